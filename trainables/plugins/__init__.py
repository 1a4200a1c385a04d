"""Plug-ins chosen by name: head initialisers (``INIT_STRATEGIES``) and sample selectors (``SELECTION_STRATEGIES``).

Each strategy's module is imported when its name is first looked up (``trainables.registry``).
"""

from __future__ import annotations

from collections.abc import Iterable

from trainables.config import TrialConfig
from trainables.registry import INIT_STRATEGIES, SELECTION_STRATEGIES


def selection_warnings(configs: Iterable[TrialConfig]) -> list[str]:
    """The distinct warnings of the trials' selectors (``SampleSelector.warnings``), in first-seen order."""
    lines: dict[str, None] = {}
    for config in configs:
        lines.update(dict.fromkeys(SELECTION_STRATEGIES.get(config.selection.strategy).warnings(config)))
    return list(lines)

