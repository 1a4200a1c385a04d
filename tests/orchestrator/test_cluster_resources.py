"""``resources.custom``: Ray custom resources a trial asks for, validated in the spec and passed on to Ray Tune."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.sweep_spec import parse_spec
from orchestrator.tracking import SweepContext
from orchestrator.tracked_trial import build_trainable
from trainables.errors import ConfigError


def test_custom_resources_join_cpu_and_gpu_in_the_trials_ray_request(tmp_path: Path) -> None:
    spec = parse_spec({"name": "x", "resources": {"cpu": 2, "gpu": 0.5, "custom": {"a100": 1}}}, tmp_path)
    assert spec.resources.per_trial() == {"cpu": 2.0, "gpu": 0.5, "a100": 1.0}
    trainable = build_trainable(SweepContext("sqlite:///unused.db", "1", "run", "x"), spec.resources.per_trial())
    (bundle,) = trainable._resources.bundles  # what Tune reserves for each trial
    assert bundle == {"CPU": 2.0, "GPU": 0.5, "a100": 1.0}


def test_no_custom_resources_by_default(tmp_path: Path) -> None:
    assert parse_spec({"name": "x"}, tmp_path).resources.per_trial() == {"cpu": 1.0, "gpu": 0.0}


@pytest.mark.parametrize("amount", [0, -1, "many"])
def test_a_custom_amount_must_be_positive(tmp_path: Path, amount: object) -> None:
    with pytest.raises(ConfigError, match=r"resources\.custom\.a100") as raised:
        parse_spec({"name": "x", "resources": {"custom": {"a100": amount}}}, tmp_path)
    assert "\n" not in str(raised.value)
