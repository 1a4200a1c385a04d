"""Shared fixtures: paths to the real data that is available offline, and a single-threaded torch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def coil20_root() -> Path:
    """COIL-20 as shipped beside the checkout (``../shared/data/coil20``) or ``$DCSWEEP_COIL20``."""
    root = Path(os.environ.get("DCSWEEP_COIL20", REPO_ROOT.parent / "shared" / "data" / "coil20"))
    if not root.is_dir():
        pytest.skip(f"COIL-20 not found at {root}")
    return root
