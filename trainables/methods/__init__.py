"""The baselines, chosen by name: ``METHODS.get("scan")``."""

from trainables.registry import Registry

METHODS: Registry = Registry("method")

# Imported after the registry exists, so that each module registers its method.
from trainables.methods import cc, tcl  # noqa: E402, F401
from trainables.methods import cdc, scan  # noqa: E402, F401
