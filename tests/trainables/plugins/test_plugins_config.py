"""``validate_trial_config`` rejects bad plug-in settings with one clear line."""

from __future__ import annotations

import pytest

from trainables.validation import validate_trial_config
from trainables.errors import ConfigError
from trainables.plugins import INIT_STRATEGIES, SELECTION_STRATEGIES


def test_defaults_and_every_registered_strategy_are_accepted() -> None:
    for name in INIT_STRATEGIES:
        assert validate_trial_config({"init.strategy": name}).init.strategy == name
    for name in SELECTION_STRATEGIES:
        assert validate_trial_config({"selection": {"strategy": name}}).selection.strategy == name


@pytest.mark.parametrize(
    ("overrides", "key", "hint"),
    [
        ({"selection.epsilon": -0.01}, "selection.epsilon", ">= 0"),
        ({"selection.epsilon": float("nan")}, "selection.epsilon", ">= 0"),
        ({"init.k": 0}, "init.k", ">= 1"),
        ({"init.alpha": float("inf")}, "init.alpha", "finite"),
        ({"init.alpha": float("nan")}, "init.alpha", "finite"),
        ({"selection.ratio": 1.0}, "selection.ratio", "[0, 1)"),
        ({"selection.ratio": -0.1}, "selection.ratio", "[0, 1)"),
        ({"init.strategy": "dachii"}, "init strategy 'dachii'", "choose one of: dachi, prototype"),
        ({"selection.strategy": "prune"}, "selection strategy 'prune'", "choose one of: dss, infobatch, loss, none, random"),
        ({"early_stop.patience": 0}, "early_stop.patience", "greater than or equal to 1"),
    ],
)
def test_bad_plugin_settings_raise_one_line_config_errors(overrides: dict, key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_trial_config(overrides)
    message = str(caught.value)
    assert "\n" not in message
    assert key in message and hint in message
