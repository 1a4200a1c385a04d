"""Plug-ins chosen by name: head initialisers (``INIT_STRATEGIES``) and sample selectors (``SELECTION_STRATEGIES``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trainables.registry import Registry

INIT_STRATEGIES: Registry = Registry("init strategy")
SELECTION_STRATEGIES: Registry = Registry("selection strategy")

# Imported after the registries exist, so that each module registers its strategies.
from trainables.plugins import baseline_selectors, infobatch, init_strategies, stability  # noqa: E402, F401


def selection_warnings(configs: Iterable[Any]) -> list[str]:
    """The distinct warnings of the trials' selectors (``SampleSelector.warnings``), in first-seen order.

    ``configs`` are TrialConfigs or flat dotted-key dicts (validated here).
    """
    from trainables.config import TrialConfig, parse_trial_config

    lines: dict[str, None] = {}
    for config in configs:
        config = config if isinstance(config, TrialConfig) else parse_trial_config(config)
        lines.update(dict.fromkeys(SELECTION_STRATEGIES.get(config.selection.strategy).warnings(config)))
    return list(lines)


def selector_metric_keys() -> tuple[str, ...]:
    """Every registered selector's ``metric_keys``, without repeats, in the order of the strategy names."""
    keys: dict[str, None] = {}
    for name in SELECTION_STRATEGIES:
        keys.update(dict.fromkeys(SELECTION_STRATEGIES.get(name).metric_keys))
    return tuple(keys)
