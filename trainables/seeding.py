"""Seeding every random number generator: once for a trial's set-up, and per epoch from (seed, epoch).

Seeding each epoch from (seed, epoch) makes an epoch's result depend only on the state after the previous one,
which is what makes resuming from a checkpoint bitwise exact on CPU.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def seed_epoch(seed: int, epoch: int) -> tuple[np.random.Generator, torch.Generator]:
    """Seed Python, NumPy and torch from (seed, epoch); return fresh NumPy and torch generators for the epoch."""
    sequence = np.random.SeedSequence([seed % 2**63, epoch])
    global_seed, loader_seed = (int(v) for v in sequence.generate_state(2, dtype=np.uint64) % 2**63)
    random.seed(global_seed)
    np.random.seed(global_seed % 2**32)
    torch.manual_seed(global_seed)
    return np.random.default_rng(sequence), torch.Generator().manual_seed(loader_seed)
