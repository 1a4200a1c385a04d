"""Trial checkpoints: one directory per checkpoint, written atomically, read back safely.

A checkpoint directory holds a single ``state.pt`` with everything a trial needs to continue bitwise:
model and optimiser state, selector and early-stop state, RNG states, the epoch and the curve so far.
It is saved with ``torch.save`` and read with ``torch.load(weights_only=True)``; numpy arrays are stored
as tensors (tagged) so that no arbitrary pickle is ever executed when loading.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainables.config import TrialConfig, flatten
from trainables.errors import CheckpointError

STATE_FILE = "state.pt"
FORMAT = "dcsweep-trial-checkpoint"
FORMAT_VERSION = 1
_NDARRAY_TAG = "__ndarray__"
# Settings that may change between a checkpoint and its resumption without changing what is computed.
RESUMABLE_CHANGES = frozenset(
    {"train.epochs", "train.eval_every", "train.checkpoint_every", "train.device", "cache_dir"}
)


def save_checkpoint(directory: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``directory`` atomically (a sibling temp dir renamed into place); returns it.

    An existing checkpoint at ``directory`` is replaced.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    payload = {"format": FORMAT, "version": FORMAT_VERSION, "state": _to_storable(state)}
    torch.save(payload, staging / STATE_FILE)
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(staging, directory)
    return directory


def load_checkpoint(directory: Path) -> dict[str, Any]:
    """Read the state written by ``save_checkpoint``.

    Raises:
        CheckpointError: the directory is missing, corrupt or not a dcsweep trial checkpoint.
    """
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise CheckpointError(
            f"no trial checkpoint at {directory} (missing {STATE_FILE}); "
            "pass a directory written by dcsweep's run_trial"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for corrupt or foreign files
        raise CheckpointError(
            f"trial checkpoint {path} cannot be read ({type(error).__name__}); "
            "delete it and resume from an earlier checkpoint or start the trial afresh"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a dcsweep trial checkpoint; pass a directory written by dcsweep's run_trial"
        )
    if payload.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"trial checkpoint {path} has format version {payload.get('version')}, "
            f"this dcsweep reads version {FORMAT_VERSION}; start the trial afresh"
        )
    return _from_storable(payload["state"])


def config_fingerprint(config: TrialConfig) -> str:
    """Hash of every setting that changes what a trial computes (``RESUMABLE_CHANGES`` left out)."""
    flat = {key: value for key, value in flatten(config).items() if key not in RESUMABLE_CHANGES}
    return hashlib.sha256(json.dumps(flat, sort_keys=True, default=str).encode()).hexdigest()


def check_fingerprint(state: dict[str, Any], config: TrialConfig, path: Path) -> None:
    """Raises CheckpointError when the checkpoint ``state`` was written for a different config."""
    if state.get("fingerprint") != config_fingerprint(config):
        raise CheckpointError(
            f"checkpoint {path} was written for a different trial configuration; resume with the config that "
            "wrote it or start the trial without resume_from"
        )


def capture_rng_state() -> dict[str, Any]:
    """The global RNG states: Python, NumPy, torch CPU and every CUDA device (if any)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(legacy=False),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of ``capture_rng_state``; CUDA states are restored only where CUDA is available."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_storable(value: Any) -> Any:
    """Replace numpy arrays and scalars by tensors / Python scalars, recursively."""
    if isinstance(value, np.ndarray):
        return {_NDARRAY_TAG: torch.from_numpy(np.ascontiguousarray(value).copy())}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: _to_storable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_storable(item) for item in value)
    return value


def _from_storable(value: Any) -> Any:
    """Inverse of ``_to_storable``."""
    if isinstance(value, dict):
        if set(value) == {_NDARRAY_TAG}:
            return value[_NDARRAY_TAG].numpy()
        return {key: _from_storable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_from_storable(item) for item in value)
    return value
