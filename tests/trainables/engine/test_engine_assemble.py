"""A trial's parts depend on its seed alone: not on whether its pre-trained features came from the cache."""

from __future__ import annotations

import pytest
import torch

from trainables.config import parse_trial_config
from trainables.trial import assemble


@pytest.mark.parametrize("method_name", ["cc", "scan"])
def test_cold_and_warm_feature_cache_give_the_same_random_head(method_name, small_digits, tmp_path):
    config = parse_trial_config({
        **small_digits, "method.name": method_name, "init.strategy": "random", "train.seed": 1,
        "train.device": "cpu", "cache_dir": str(tmp_path / "cache"),
    })
    cold = assemble(config).method.state_dict()  # computes and caches the features
    warm = assemble(config).method.state_dict()  # reads them back

    assert cold.keys() == warm.keys()
    for name, tensor in cold.items():
        torch.testing.assert_close(warm[name], tensor, rtol=0, atol=0, equal_nan=True, msg=name)
