"""Choosing the torch device from a config string."""

from __future__ import annotations

import torch

from trainables.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"`` into a usable ``torch.device``.

    ``"auto"`` picks the first CUDA GPU when one is visible and the CPU otherwise.

    Raises:
        ConfigError: the name is not a device, or names an accelerator this machine does not have.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(
            f"train.device {name!r} is not a device; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
        ) from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"train.device {name!r} asks for CUDA but no GPU is visible; use 'cpu' or 'auto'")
        if device.index is not None and device.index >= count:
            raise ConfigError(
                f"train.device {name!r} names GPU {device.index} but only {count} are visible; use 'cuda:0' to "
                f"'cuda:{count - 1}'"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"train.device {name!r} asks for MPS but it is not available; use 'cpu' or 'auto'")
    elif device.type not in {"cpu", "cuda", "mps"}:
        raise ConfigError(f"train.device {name!r} is not supported; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    return device
