"""SCAN and CDC losses as pure functions of logits and probabilities.

Each loss returns ``(loss, sample_loss)``: the scalar to back-propagate and a [B] per-sample share, attached to the
graph so that a weighted mean of it can be back-propagated (InfoBatch), whose meaning is documented per function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def scan_loss(
    anchor_logits: Tensor, neighbour_logits: Tensor, entropy_weight: float = 5.0, eps: float = 1e-8
) -> tuple[Tensor, Tensor]:
    """SCAN loss (Van Gansbeke et al., ECCV 2020) of anchors and one neighbour each, both [B, K] logits.

    loss = -mean_i log <p_i, q_i> - entropy_weight * H(mean_i p_i), with q the neighbours' distributions
    and probabilities (and the inner products) clamped at ``eps``.

    The per-sample share is -log <p_i, q_i> + entropy_weight * sum_k p_ik log pbar_k, because
    H(pbar) = -mean_i sum_k p_ik log pbar_k; so ``sample_loss.mean()`` equals ``loss`` (up to the clamp).
    """
    anchor = F.softmax(anchor_logits, dim=1)
    neighbour = F.softmax(neighbour_logits, dim=1)
    consistency = -(anchor * neighbour).sum(dim=1).clamp_min(eps).log()
    mean_probs = anchor.mean(dim=0).clamp_min(eps)
    entropy = -(mean_probs * mean_probs.log()).sum()
    loss = consistency.mean() - entropy_weight * entropy
    entropy_share = (anchor * mean_probs.log()).sum(dim=1)
    return loss, consistency + entropy_weight * entropy_share


def cdc_select(probs: Tensor, top_m: int) -> tuple[Tensor, Tensor]:
    """CDC's confident-sample selection from the calibration head's [B, K] probabilities.

    For every cluster k: take the ``top_m`` samples most probable for k (at most B of them), and keep the
    first s_k = floor(top_m * mean confidence of those samples), confidence being a sample's max probability.
    The union of the kept samples is returned as sorted batch positions [S] with pseudo-labels [S] = argmax
    of their probabilities (S may be 0).
    """
    confidence, argmax = probs.max(dim=1)
    top_positions = probs.topk(min(top_m, probs.shape[0]), dim=0).indices  # [M, K], most probable first
    keep_counts = torch.floor(top_m * confidence[top_positions].mean(dim=0)).long()  # [K]
    rank = torch.arange(top_positions.shape[0], device=probs.device).unsqueeze(1)  # [M, 1]
    positions = torch.unique(top_positions[rank < keep_counts.unsqueeze(0)])
    return positions, argmax[positions]


def cdc_clustering_loss(
    logits: Tensor, positions: Tensor, pseudo_labels: Tensor
) -> tuple[Tensor, Tensor]:
    """Cross-entropy of the clustering head's [B, K] logits on the selected ``positions`` [S].

    The loss is the mean over the S selected samples, 0 (still attached to ``logits``) when S = 0.
    The per-sample share is B / S times each selected sample's cross-entropy, 0 for the others, so that
    ``sample_loss.mean() == loss`` and a weighted mean of the shares keeps the loss's scale.
    """
    sample_loss = logits.new_zeros(logits.shape[0])
    if positions.numel() == 0:
        return logits.sum() * 0.0, sample_loss
    selected = F.cross_entropy(logits[positions], pseudo_labels, reduction="none")
    return selected.mean(), sample_loss.index_put((positions,), selected * (logits.shape[0] / positions.numel()))


def group_mean_targets(groups: Tensor, probs: Tensor, num_groups: int) -> Tensor:
    """Each sample's target: the mean [K] distribution of ``probs`` [B, K] over its group (``groups`` [B]).

    Empty groups are never anyone's group, so they cannot divide by zero.
    """
    sums = probs.new_zeros(num_groups, probs.shape[1]).index_add_(0, groups, probs)
    counts = torch.bincount(groups, minlength=num_groups).clamp_min(1).to(probs.dtype)
    return (sums / counts.unsqueeze(1))[groups]


def cdc_calibration_loss(
    logits: Tensor, targets: Tensor, entropy_weight: float = 1.0, eps: float = 1e-8
) -> tuple[Tensor, Tensor]:
    """Calibration-head loss of CDC (Jia et al., ICLR 2025) on [B, K] logits and soft [B, K] targets.

    loss = mean_i CE(targets_i, softmax(logits_i)) + entropy_weight * sum_k qbar_k log qbar_k, with qbar the
    batch mean distribution (clamped at ``eps``). The per-sample share is CE_i + entropy_weight *
    sum_k q_ik log qbar_k, so ``sample_loss.mean() == loss``.
    """
    log_probs = F.log_softmax(logits, dim=1)
    cross_entropy = -(targets * log_probs).sum(dim=1)
    probs = log_probs.exp()
    log_mean = probs.mean(dim=0).clamp_min(eps).log()
    negative_entropy_share = (probs * log_mean).sum(dim=1)
    sample_loss = cross_entropy + entropy_weight * negative_entropy_share
    return sample_loss.mean(), sample_loss
