"""Plug-ins chosen by name: head initialisers (``INIT_STRATEGIES``) and sample selectors (``SELECTION_STRATEGIES``)."""

from trainables.registry import Registry

INIT_STRATEGIES: Registry = Registry("init strategy")
SELECTION_STRATEGIES: Registry = Registry("selection strategy")

# Imported after the registries exist, so that each module registers its strategies.
from trainables.plugins import baseline_selectors, init_strategies, stability  # noqa: E402, F401
