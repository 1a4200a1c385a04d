"""Head builders and weight helpers shared by the baselines (generic: no method-specific logic here)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def mlp_head(dims: Sequence[int], batch_norm: bool, input_activation: bool = False) -> nn.Sequential:
    """A stack of Linear layers ``dims[0] -> dims[1] -> ... -> dims[-1]`` with [BN] - ReLU between them.

    ``mlp_head([512, 512, 10], batch_norm=True)`` is Linear(512,512) - BN - ReLU - Linear(512,10) (CDC);
    ``batch_norm=False`` drops the BN (CC). ``input_activation=True`` prepends [BN] - ReLU on the input
    (TCL's pre-activation heads). PyTorch default initialisation throughout.

    Raises:
        ValueError: fewer than two dims, or a dim < 1.
    """
    if len(dims) < 2 or min(dims) < 1:
        raise ValueError(f"mlp_head needs at least two positive dims, but got {list(dims)}")
    layers: list[nn.Module] = []
    if input_activation:
        layers += _activation(dims[0], batch_norm)
    for index, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if index < len(dims) - 2:
            layers += _activation(fan_out, batch_norm)
    return nn.Sequential(*layers)


def _activation(width: int, batch_norm: bool) -> list[nn.Module]:
    return [nn.BatchNorm1d(width), nn.ReLU()] if batch_norm else [nn.ReLU()]


def l2_normalise_rows(rows: Tensor, eps: float = 1e-12) -> Tensor:
    """Each row of [n, d] divided by its Euclidean norm (zero rows stay zero)."""
    return rows / rows.norm(dim=1, keepdim=True).clamp_min(eps)


def standardise_rows(rows: Tensor, eps: float = 1e-12) -> Tensor:
    """Each row of [n, d] shifted to mean 0 and scaled to (biased) standard deviation 1."""
    centred = rows - rows.mean(dim=1, keepdim=True)
    return centred / centred.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(eps)


def head_input_rows(inputs: Tensor) -> Tensor:
    """The space every head initialisation clusters in: each [n, d] row standardised, then L2-normalised.

    This is the space of CDC's prototype initialisation; all four methods run their initializer (K-means, and
    DACHI's d_i and w_i = exp(alpha d_i), method.md steps 2-5) on these rows of the initialised layer's input,
    so that alpha weighs distances of the same scale (rows on the unit sphere, d_i in [0, 2]) in every method.
    """
    return l2_normalise_rows(standardise_rows(inputs))


@torch.no_grad()
def set_linear_rows(layer: nn.Linear, rows: Tensor) -> None:
    """Copy [n, in_features] ``rows`` into the first n rows of ``layer.weight`` and zero their bias.

    Rows beyond n keep their current values (used when fewer centres than outputs exist).

    Raises:
        ValueError: ``rows`` has the wrong width or more rows than the layer has outputs.
    """
    n_rows, width = rows.shape
    if width != layer.in_features or n_rows > layer.out_features:
        raise ValueError(
            f"cannot place {n_rows}x{width} rows into Linear({layer.in_features}, {layer.out_features})"
        )
    layer.weight[:n_rows].copy_(rows.to(layer.weight))
    if layer.bias is not None:
        layer.bias[:n_rows].zero_()
