"""Loading pre-trained backbone weights from the checkpoint formats users already have, and hashing them.

Formats, detected from the keys (after unwrapping a ``state_dict`` or ``model`` entry):
- solo-learn / Lightning ``.ckpt`` and dcsweep's own pre-training: ``backbone.*`` (other heads ignored);
- official MoCo: ``module.encoder_q.*``, with the ``fc.*`` projector dropped;
- SCAN pretext: ``backbone.*`` plus ``contrastive_head.*`` (the head is ignored);
- a plain backbone ``state_dict``.
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from trainables.errors import CheckpointError

PREFIXES = (
    ("official MoCo", "module.encoder_q."),
    ("backbone (solo-learn / SCAN / dcsweep)", "backbone."),
)
DROPPED_SUBMODULES = ("fc.",)
SHOWN_KEYS = 5


def file_hash(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """sha256 hex digest of a file, read in chunks; raises CheckpointError if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(chunk_size):
                digest.update(chunk)
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {path} ({error.strerror}); pass an existing file") from None
    return digest.hexdigest()


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read ``path`` with ``weights_only=True`` and return its tensors, unwrapped from ``state_dict``/``model``.

    Raises:
        CheckpointError: the file is missing, corrupt or holds no tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass encoder.checkpoint pointing to a file")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"checkpoint {path} cannot be read as a torch file ({reason[:120]}); pass a .ckpt/.pth saved by torch.save"
        ) from None
    for wrapper in ("state_dict", "model"):
        if isinstance(content, Mapping) and isinstance(content.get(wrapper), Mapping):
            content = content[wrapper]
            break
    if not isinstance(content, Mapping) or not any(isinstance(v, torch.Tensor) for v in content.values()):
        raise CheckpointError(f"checkpoint {path} holds no tensors; pass a file with a model state_dict")
    return {str(key): value for key, value in content.items() if isinstance(value, torch.Tensor)}


def backbone_state_dict(tensors: Mapping[str, torch.Tensor]) -> tuple[str, dict[str, torch.Tensor]]:
    """Detect the format and return (format name, the backbone's tensors with plain keys)."""
    for name, prefix in PREFIXES:
        if any(key.startswith(prefix) for key in tensors):
            stripped = {key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)}
            if prefix == "module.encoder_q.":
                stripped = {k: v for k, v in stripped.items() if not k.startswith(DROPPED_SUBMODULES)}
            return name, stripped
    return "plain backbone", dict(tensors)


def _describe(keys: list[str]) -> str:
    shown = ", ".join(keys[:SHOWN_KEYS])
    more = f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
    return f"{len(keys)} ({shown}{more})"


def load_encoder_checkpoint(encoder: nn.Module, path: str | Path) -> str:
    """Load the backbone weights in ``path`` into ``encoder`` strictly; returns the detected format name.

    Raises:
        CheckpointError: unreadable file, missing/unexpected keys (named, with counts) or a shape mismatch
            (a checkpoint of another architecture).
    """
    format_name, state = backbone_state_dict(read_checkpoint(path))
    expected = encoder.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {path} ({format_name} format) does not fit the encoder: missing keys "
            f"{_describe(missing)}, unexpected keys {_describe(unexpected)}; pass a checkpoint of the same "
            f"encoder.arch, stem and input channels"
        )
    mismatched = [key for key, value in state.items() if value.shape != expected[key].shape]
    if mismatched:
        key = mismatched[0]
        raise CheckpointError(
            f"checkpoint {path} is for another architecture: {len(mismatched)} tensors differ in shape, e.g. {key} "
            f"{tuple(state[key].shape)} vs {tuple(expected[key].shape)}; pass a checkpoint of the same encoder.arch, "
            f"stem and input channels"
        )
    encoder.load_state_dict(state, strict=True)
    return format_name
