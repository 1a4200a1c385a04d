"""The one full check of a trial's config: the schema, the registered names and the method's own params.

``trainables.config`` is the schema alone (it imports no registry); this module adds what needs the registries.
Nothing here imports torch: names are checked against the registries' name lists, and ``method.params`` against
the torch-free models of ``trainables.methods.params``.
"""

from __future__ import annotations

from typing import Any

from trainables.config import TrialConfig, flatten, parse_trial_config
from trainables.errors import ConfigError
from trainables.methods.params import resolve_method_params
from trainables.registry import CONFIG_REGISTRIES


def validate_trial_config(data: TrialConfig | dict[str, Any], context: str = "") -> TrialConfig:
    """A nested or flat dotted-key dict (or a TrialConfig) checked in full; plug-in names are checked first.

    Raises:
        ConfigError: one line, prefixed by ``context`` ("trial cdc/ours/seed0: ..."), naming the bad key.
    """
    try:
        check_registered_names(flatten(data))
        config = data if isinstance(data, TrialConfig) else parse_trial_config(data)
        resolve_method_params(config.method.name, config.dataset.name, config.method.params)
    except ConfigError as error:
        raise ConfigError(f"{context}: {error}" if context else str(error)) from None
    return config


def check_registered_names(flat: dict[str, Any]) -> None:
    """Raise ConfigError naming the first dotted key (``dataset.name``, ...) whose plug-in no registry holds."""
    for key, registry in CONFIG_REGISTRIES.items():
        if key in flat and flat[key] not in registry:
            raise ConfigError(f"{key}: {registry.unknown(flat[key])}")
