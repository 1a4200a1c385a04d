"""Contrastive clustering losses of CC and TCL as pure functions.

Each loss returns ``(loss, sample_loss)``: the scalar to back-propagate and a per-item share, attached to the graph
so that a weighted mean of it can be back-propagated (InfoBatch), whose meaning is documented per function.

References: Li et al., "Contrastive Clustering", AAAI 2021 (CC); Li et al., "Twin Contrastive Learning for
Online Clustering", IJCV 2022 (TCL).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def nt_xent(
    view_a: Tensor, view_b: Tensor, temperature: float, pair_mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """NT-Xent over 2n items: row i of ``view_a`` [n, d] and row i of ``view_b`` [n, d] are positives.

    Each of the 2n items is an anchor; its similarity to item j is cos(item, j) / ``temperature``; its loss
    is -log(exp(s_pos) / sum_{j != anchor} exp(s_j)), and ``loss`` is the mean over the 2n anchors.
    ``pair_mask`` [n, n] bool, optional: True at (i, j) removes the negatives "j in either view" from the
    denominators of anchor i in both views (a positive is never removed).

    Returns ``(loss, item_loss)`` with ``item_loss`` [n] the mean of item i's two anchor losses, so that
    ``item_loss.mean() == loss``.
    """
    n = view_a.shape[0]
    items = F.normalize(torch.cat([view_a, view_b], dim=0), dim=1)
    logits = items @ items.T / temperature  # [2n, 2n]
    positive = torch.arange(2 * n, device=items.device).roll(n)  # anchor i <-> i + n
    excluded = torch.eye(2 * n, dtype=torch.bool, device=items.device)
    if pair_mask is not None:
        removed = pair_mask.to(torch.bool).repeat(2, 2)
        removed[torch.arange(2 * n, device=items.device), positive] = False
        excluded = excluded | removed
    logits = logits.masked_fill(excluded, float("-inf"))
    anchor_loss = torch.logsumexp(logits, dim=1) - logits[torch.arange(2 * n, device=items.device), positive]
    item_loss = (anchor_loss[:n] + anchor_loss[n:]) / 2
    return anchor_loss.mean(), item_loss


def negative_entropy(probs: Tensor, eps: float = 1e-8) -> Tensor:
    """log K + sum_k pbar_k log pbar_k of the batch-mean distribution of [B, K] ``probs`` (>= 0, 0 iff uniform).

    ``pbar`` is the column sums renormalised to 1, clamped at ``eps`` inside the log.
    """
    mean = probs.sum(dim=0)
    mean = mean / mean.sum()
    return math.log(probs.shape[1]) + (mean * mean.clamp_min(eps).log()).sum()


def cluster_contrastive_loss(
    probs_a: Tensor, probs_b: Tensor, temperature: float = 1.0, entropy_weight: float = 1.0
) -> Tensor:
    """Cluster-level contrastive loss of CC / TCL on the [B, K] assignment matrices of two views.

    The K columns of each view are the items: column k of view a and column k of view b are positives, every
    other column of either view is a negative (NT-Xent with cosine similarity and ``temperature``, mean over the
    2K anchors). Plus ``entropy_weight`` times ``negative_entropy`` of each view, which keeps clusters from
    collapsing. The loss is a batch-level scalar: it has no per-sample decomposition.
    """
    contrast, _ = nt_xent(probs_a.T, probs_b.T, temperature)
    return contrast + entropy_weight * (negative_entropy(probs_a) + negative_entropy(probs_b))


def confident_pseudo_labels(probs: Tensor, threshold: float, per_cluster: int) -> Tensor:
    """TCL's boost-stage pseudo-labels from [B, K] probabilities: [B] int64, -1 where unlabelled.

    For every cluster k, among the samples whose argmax is k and whose confidence (max probability) is at
    least ``threshold``, the ``per_cluster`` most confident are labelled k.
    """
    confidence, argmax = probs.max(dim=1)
    labels = torch.full_like(argmax, -1)
    for cluster in range(probs.shape[1]):
        candidates = torch.nonzero((argmax == cluster) & (confidence >= threshold)).squeeze(1)
        top = candidates[confidence[candidates].argsort(descending=True)[:per_cluster]]
        labels[top] = cluster
    return labels


def balanced_cross_entropy(logits: Tensor, pseudo_labels: Tensor) -> tuple[Tensor, Tensor]:
    """Class-weighted cross-entropy of [B, K] ``logits`` on the samples with ``pseudo_labels`` [B] >= 0.

    Class weights are inversely proportional to the pseudo-label counts, so each labelled class contributes
    equally: loss = sum_i w_{y_i} CE_i / sum_i w_{y_i} over labelled i. With no labelled sample the loss is 0
    (still attached to ``logits``). The per-sample share is B w_{y_i} CE_i / sum_j w_{y_j} for labelled samples
    and 0 for the others, so ``sample_loss.mean() == loss``.
    """
    sample_loss = logits.new_zeros(logits.shape[0])
    labelled = torch.nonzero(pseudo_labels >= 0).squeeze(1)
    if labelled.numel() == 0:
        return logits.sum() * 0.0, sample_loss
    targets = pseudo_labels[labelled]
    counts = torch.bincount(targets, minlength=logits.shape[1]).to(logits.dtype)
    weights = (1.0 / counts.clamp_min(1))[targets]
    weighted = weights * F.cross_entropy(logits[labelled], targets, reduction="none")
    loss = weighted.sum() / weights.sum()
    return loss, sample_loss.index_put((labelled,), weighted * logits.shape[0] / weights.sum())
