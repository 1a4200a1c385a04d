"""CDC's two numerical routines as pure tensor functions: the orthogonalisation of its prototype initialisation
and the seeded K-means of its mini-clusters (Jia et al., "Towards Calibrated Deep Clustering Network", ICLR 2025).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def orthogonalise(centres: Tensor, steps: int, scale: float = 5.0, lr: float = 0.1) -> Tensor:
    """CDC's orthogonalisation of [n, d] centres; returns the new [n, d] weight rows.

    Two copies of the centres, anchors A and rows W, are trained jointly for ``steps`` SGD steps (momentum 0.9,
    weight decay 1e-4, cosine schedule to 0) on the cross-entropy of ``scale`` * cos(relu(A_i), W_j) with
    target j = i, so each row becomes most similar to its own centre and dissimilar to the others. Returns W;
    with ``steps = 0`` the centres unchanged. Runs on the centres' device; deterministic on CPU.
    """
    rows = centres.detach().clone().requires_grad_(True)
    if steps == 0:
        return rows.detach()
    anchors = centres.detach().clone().requires_grad_(True)
    targets = torch.arange(centres.shape[0], device=centres.device)
    optimiser = torch.optim.SGD([anchors, rows], lr=lr, momentum=0.9, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps, eta_min=0.0)
    with torch.enable_grad():
        for _ in range(steps):
            logits = scale * F.normalize(F.relu(anchors), dim=1) @ F.normalize(rows, dim=1).T
            loss = F.cross_entropy(logits, targets)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    return rows.detach()


def batch_kmeans(x: Tensor, n_clusters: int, iters: int, seed: int) -> Tensor:
    """Labels [B] of a seeded K-means (k-means++ seeding, ``iters`` Lloyd steps) of the [B, d] rows ``x``.

    Runs on ``x``'s device; deterministic for a given seed on CPU. An emptied cluster keeps its centre.
    ``n_clusters`` must lie in [1, B].
    """
    generator = torch.Generator(device=x.device).manual_seed(seed)
    first = torch.randint(x.shape[0], (1,), generator=generator, device=x.device)
    centres = x[first]
    nearest = (x - centres).pow(2).sum(dim=1)
    for _ in range(1, n_clusters):
        weights = nearest if nearest.sum() > 0 else torch.ones_like(nearest)
        chosen = torch.multinomial(weights, 1, generator=generator)
        centres = torch.cat([centres, x[chosen]])
        nearest = torch.minimum(nearest, (x - x[chosen]).pow(2).sum(dim=1))
    for _ in range(iters):
        labels = torch.cdist(x, centres).argmin(dim=1)
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=n_clusters).unsqueeze(1)
        centres = torch.where(counts > 0, sums / counts.clamp_min(1), centres)
    return torch.cdist(x, centres).argmin(dim=1)
