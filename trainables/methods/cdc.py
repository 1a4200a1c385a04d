"""CDC (Jia et al., "Towards Calibrated Deep Clustering Network", ICLR 2025).

Two heads of the same shape, Linear(D, H) - BN - ReLU - Linear(H, K): a clustering head trained with
cross-entropy on confident samples, and a calibration head, trained on detached features towards the clustering
head's mean distribution over mini-clusters, which gives the predictions.

The per-dataset method params (M, K_mini, sub-batch) are ``Cdc.dataset_defaults``. The per-dataset training
settings of CDC's protocol (batch size, backbone learning rate), which the paper uses for all four baselines,
travel with each dataset bundle of the shipped specs in ``search_spaces/paper/``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from trainables.config import TrialConfig
from trainables.methods import METHODS
from trainables.methods.base import Batch, ClusteringMethod, MethodParams, StepOutput
from trainables.methods.heads import mlp_head, set_linear_rows, standardise_rows
from trainables.methods.losses import (
    cdc_calibration_loss,
    cdc_clustering_loss,
    cdc_select,
    group_mean_targets,
)


class CdcParams(MethodParams):
    """CDC's hyper-parameters (``method.params``); M and K_mini are capped at the batch size at run time."""

    hidden_dim: int = Field(default=512, ge=1, description="width H of both heads' hidden layer")
    top_m: int = Field(default=50, ge=1, description="M: candidates per cluster for selection")
    mini_clusters: int = Field(default=40, ge=1, description="K_mini: K-means clusters per batch")
    sub_batch_size: int = Field(default=500, ge=1, description="the losses are averaged over sub-batches")
    entropy_weight: float = Field(default=1.0, ge=0, description="w_en of the calibration loss")
    kmeans_iters: int = Field(default=10, ge=1, description="Lloyd iterations of the mini-cluster K-means")
    orth_steps: int = Field(default=2000, ge=0, description="SGD steps of the orthogonalisation")
    orth_scale: float = Field(default=5.0, gt=0, description="logit scale of the orthogonalisation")
    orth_lr: float = Field(default=0.1, gt=0, description="SGD learning rate of the orthogonalisation")


def _per_dataset(top_m: int, mini_clusters: int, sub_batch_size: int) -> dict[str, Any]:
    return {"top_m": top_m, "mini_clusters": mini_clusters, "sub_batch_size": sub_batch_size}



@METHODS.register("cdc")
class Cdc(ClusteringMethod):
    """CDC behind the ClusteringMethod interface (see the module docstring).

    One training step (all on the engine's batch of B samples):
    1. no-grad: encoder features of the val and weak views; calibration-head probabilities of the weak view;
    2. selection: ``cdc_select`` with M = ``top_m``, pseudo-label = the calibration head's argmax;
    3. targets: K-means (``mini_clusters``, seeded) on L1-normalised val features, each sample's target the
       clustering head's mean val-view distribution over its mini-cluster;
    4. the batch is cut into sub-batches of ``sub_batch_size``; the loss is the mean over sub-batches that hold a
       selected sample of their clustering cross-entropy (strong view), plus the mean over sub-batches of their
       calibration loss on the val features (entropy term per sub-batch). The reference implementation steps the
       optimiser after each sub-batch; here the engine steps once per batch.
    P^w and P^s are the calibration head's distributions of the weak and strong views.
    """

    name = "cdc"
    Params = CdcParams
    train_views = ("val", "weak", "strong")
    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "cifar10": _per_dataset(100, 500, 500),
        "cifar20": _per_dataset(50, 40, 500),
        "stl10": _per_dataset(100, 150, 500),
        "imagenet10": _per_dataset(50, 150, 125),
        "imagenet_dogs": _per_dataset(33, 40, 125),
        "tiny_imagenet": _per_dataset(25, 1000, 1000),
        # Small data (not in the paper), sized for batches of 256.
        "digits": _per_dataset(20, 20, 256),
        "coil20": _per_dataset(10, 20, 256),
    }

    def __init__(self, config: TrialConfig, encoder: nn.Module, num_clusters: int, feature_dim: int):
        super().__init__(config, encoder, num_clusters, feature_dim)
        dims = [feature_dim, self.params.hidden_dim, num_clusters]
        self.cluster_head = mlp_head(dims, batch_norm=True)
        self.calibration_head = mlp_head(dims, batch_norm=True)

    def init_head(self, features: np.ndarray, initializer: Any) -> None:
        """CDC's prototype initialisation of both layers of both heads, from the initializer's centres.

        Layer 1: centres of the row-standardised, L2-normalised features (min(H, N) of them; further rows keep
        their default init). Layer 2: the raw features pass through layer 1, BN (statistics of all N samples)
        and ReLU, are row-standardised and L2-normalised, and give K centres. Each centre matrix is
        orthogonalised (``orthogonalise``), biases are 0, and both heads get the same weights. With ``random``
        (centres None) both heads keep PyTorch's default init.
        """
        seed = self.config.train.seed
        raw = torch.tensor(features, dtype=torch.float32)
        first, second = self.cluster_head[0], self.cluster_head[3]
        n_hidden = min(self.params.hidden_dim, raw.shape[0])
        centres = initializer.centres(_spherical(raw).numpy(), n_hidden, seed)
        if centres is None:
            return
        set_linear_rows(first, self._orthogonalise(centres))
        with torch.no_grad():
            hidden = F.relu(F.batch_norm(first(raw.to(first.weight)), None, None, training=True))
        centres = initializer.centres(_spherical(hidden.cpu()).numpy(), self.num_clusters, seed)
        set_linear_rows(second, self._orthogonalise(centres))
        self.calibration_head.load_state_dict(self.cluster_head.state_dict())

    def _orthogonalise(self, centres: np.ndarray) -> Tensor:
        """The orthogonalised [n, d] centres, computed on the heads' device."""
        rows = torch.as_tensor(centres, dtype=torch.float32, device=self.cluster_head[0].weight.device)
        return orthogonalise(rows, self.params.orth_steps, self.params.orth_scale, self.params.orth_lr)

    def train_step(self, batch: Batch) -> StepOutput:
        """CDC's clustering and calibration losses of one batch (see the class docstring)."""
        params = self.params
        with torch.no_grad():
            val_features = self.encoder(batch.views["val"])
            p_weak = F.softmax(self.calibration_head(self.encoder(batch.views["weak"])), dim=1)
            p_cluster_val = F.softmax(self.cluster_head(val_features), dim=1)
            positions, pseudo_labels = cdc_select(p_weak, params.top_m)
            n_mini = min(params.mini_clusters, val_features.shape[0])
            groups = batch_kmeans(
                F.normalize(val_features, p=1, dim=1), n_mini, params.kmeans_iters, self.config.train.seed
            )
            targets = group_mean_targets(groups, p_cluster_val, n_mini)
        strong_features = self.encoder(batch.views["strong"])
        strong_logits = self.cluster_head(strong_features)
        calibration_logits = self.calibration_head(val_features)
        loss, sample_loss = self._sub_batch_losses(
            strong_logits, calibration_logits, targets, positions, pseudo_labels
        )
        with torch.no_grad():
            p_strong = F.softmax(self.calibration_head(strong_features.detach()), dim=1)
        return StepOutput(loss, sample_loss, p_weak, p_strong)

    def _sub_batch_losses(
        self, strong_logits: Tensor, calibration_logits: Tensor, targets: Tensor, positions: Tensor,
        pseudo_labels: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """Mean over sub-batches of the two losses; sub-batches without a selected sample skip clustering."""
        size = self.params.sub_batch_size
        clustering, calibration, shares = [], [], []
        for start in range(0, strong_logits.shape[0], size):
            stop = start + size
            inside = (positions >= start) & (positions < stop)
            cluster_loss, cluster_share = cdc_clustering_loss(
                strong_logits[start:stop], positions[inside] - start, pseudo_labels[inside]
            )
            if inside.any():
                clustering.append(cluster_loss)
            calib_loss, calib_share = cdc_calibration_loss(
                calibration_logits[start:stop], targets[start:stop], self.params.entropy_weight
            )
            calibration.append(calib_loss)
            shares.append(cluster_share + calib_share)
        clustering_loss = torch.stack(clustering).mean() if clustering else strong_logits.sum() * 0.0
        return clustering_loss + torch.stack(calibration).mean(), torch.cat(shares)

    @torch.no_grad()
    def predict(self, batch: Batch) -> Tensor:
        """Calibration-head probabilities [B, K] of the val view."""
        return F.softmax(self.calibration_head(self.encoder(batch.views["val"])), dim=1)


def _spherical(rows: Tensor) -> Tensor:
    """Rows standardised (mean 0, std 1) then L2-normalised: the space CDC's K-means steps run in."""
    return F.normalize(standardise_rows(rows), dim=1)


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
