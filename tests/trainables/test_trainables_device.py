"""Device resolution and seeding."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from trainables.device import resolve_device
from trainables.seeding import seed_everything
from trainables.errors import ConfigError


def test_auto_and_cpu_resolve() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "tpu", ""])
def test_bad_names_raise_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match="train.device"):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_missing_cuda_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="no GPU is visible"):
        resolve_device("cuda")


def test_seed_everything_repeats_every_generator() -> None:
    def draw() -> tuple[float, float, torch.Tensor]:
        return random.random(), float(np.random.rand()), torch.rand(3)

    seed_everything(7)
    first = draw()
    seed_everything(7)
    second = draw()
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])
