"""CDC (Jia et al., "Towards Calibrated Deep Clustering Network", ICLR 2025).

Two heads of the same shape, Linear(D, H) - BN - ReLU - Linear(H, K): a clustering head trained with
cross-entropy on confident samples, and a calibration head, trained on detached features towards the clustering
head's mean distribution over mini-clusters, which gives the predictions.

The per-dataset method params (M, K_mini, sub-batch) are ``DATASET_DEFAULTS['cdc']`` in
``trainables.methods.params``. The per-dataset training
settings of CDC's protocol (batch size, backbone learning rate), which the paper uses for all four baselines,
travel with each dataset bundle of the shipped specs in ``search_spaces/paper/``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainables.config import TrialConfig
from trainables.methods import METHODS
from trainables.methods.base import (
    Batch,
    ClusteringMethod,
    StepOutput,
    descend,
    weighted_objective,
)
from trainables.methods.cdc_numerics import batch_kmeans, orthogonalise
from trainables.methods.heads import head_input_rows, mlp_head, set_linear_rows
from trainables.methods.losses import (
    cdc_calibration_loss,
    cdc_clustering_loss,
    cdc_select,
    group_mean_targets,
)
from trainables.plugins.base import Initializer


@dataclass
class _BatchPlan:
    """What CDC fixes once per batch, without gradients, before its sub-batch steps."""

    val_features: Tensor  # [B, D] encoder features of the val view
    positions: Tensor  # [S] batch positions of the selected samples, sorted
    pseudo_labels: Tensor  # [S] their pseudo-labels
    targets: Tensor  # [B, K] calibration targets


@dataclass
class _SubBatchLoss:
    """The two losses of one sub-batch; ``clustering`` is None when no sample of it was selected."""

    clustering: Tensor | None
    calibration: Tensor
    sample_loss: Tensor  # [b] per-sample share of both losses

    def objective(self) -> Tensor:
        return self.calibration if self.clustering is None else self.clustering + self.calibration


@METHODS.register("cdc")
class Cdc(ClusteringMethod):
    """CDC behind the ClusteringMethod interface (see the module docstring).

    Per batch of B samples, first without gradients (``_plan``):
    1. encoder features of the val and weak views; calibration-head probabilities of the weak view;
    2. selection: ``cdc_select`` with M = ``top_m``, pseudo-label = the calibration head's argmax;
    3. targets: K-means (``mini_clusters``, seeded) on L1-normalised val features, each sample's target the
       clustering head's mean val-view distribution over its mini-cluster.
    Then the batch is cut into sub-batches of ``sub_batch_size``. Each sub-batch computes the clustering
    cross-entropy of its selected samples (strong view through encoder and clustering head; skipped when none is
    selected) and the calibration loss on its val features (entropy term per sub-batch), and, as the reference
    does, ``fit_batch`` steps both optimisers after every sub-batch: one Adam over the encoder (when fine-tuned)
    and the clustering head, one over the calibration head (``configure_optimizers``). The calibration loss sees
    only detached features, so the two losses share one backward pass without mixing their gradients.
    The reported loss is the mean over sub-batches with a selection of the clustering loss plus the mean over
    all sub-batches of the calibration loss.
    """

    name = "cdc"
    train_views = ("val", "weak", "strong")

    def __init__(self, config: TrialConfig, encoder: nn.Module, num_clusters: int, feature_dim: int):
        super().__init__(config, encoder, num_clusters, feature_dim)
        dims = [feature_dim, self.params.hidden_dim, num_clusters]
        self.cluster_head = mlp_head(dims, batch_norm=True)
        self.calibration_head = mlp_head(dims, batch_norm=True)

    def init_head(self, features: np.ndarray, initializer: Initializer, seed: int) -> None:
        """CDC's prototype initialisation of both layers of both heads, from the initializer's centres.

        Both centre sets are computed in ``head_input_rows`` space (method.md steps 2-5 run there: K-means, d_i,
        w_i = exp(alpha d_i) and the prototypes c_j), each in its own layer's input:
        layer 1: the rows of the [N, D] features, giving W1 (min(H, N) centres; further rows keep their
        default init); layer 2: the raw features pass through the plain centres W1 (bias 0), BN (statistics of
        all N samples) and ReLU, and these rows give K centres W2. Each centre matrix is then orthogonalised
        (``orthogonalise``) into its layer, so layer 2's centres come from the plain K-means W1 while layer 1
        holds the orthogonalised one, as in the reference. Biases are 0 and both heads get the same weights.
        With ``random`` (centres None) both heads keep PyTorch's default init.
        """
        raw = torch.tensor(features, dtype=torch.float32)
        first, second = self.cluster_head[0], self.cluster_head[3]
        n_hidden = min(self.params.hidden_dim, raw.shape[0])
        plain_first = initializer.centres(head_input_rows(raw).numpy(), n_hidden, seed)
        if plain_first is None:
            return
        set_linear_rows(first, self._orthogonalise(plain_first))
        with torch.no_grad():
            plain_weight = first.weight.detach().clone()
            plain_weight[:n_hidden] = torch.as_tensor(plain_first).to(plain_weight)
            pre_activation = F.linear(raw.to(plain_weight), plain_weight, first.bias)
            hidden = F.relu(F.batch_norm(pre_activation, None, None, training=True)).cpu()
        centres = initializer.centres(head_input_rows(hidden).numpy(), self.num_clusters, seed)
        set_linear_rows(second, self._orthogonalise(centres))
        self.calibration_head.load_state_dict(self.cluster_head.state_dict())

    def _orthogonalise(self, centres: np.ndarray) -> Tensor:
        """The orthogonalised [n, d] centres, computed on the heads' device."""
        rows = torch.as_tensor(centres, dtype=torch.float32, device=self.cluster_head[0].weight.device)
        return orthogonalise(rows, self.params.orth_steps, self.params.orth_scale, self.params.orth_lr)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """[Adam over the clustering head (``lr_head``) and the fine-tuned encoder (``lr_backbone``),
        Adam over the calibration head (``lr_head``)], both with ``train.weight_decay``."""
        train = self.config.train
        clustering = [{"params": list(self.cluster_head.parameters()), "lr": train.lr_head},
                      *self.encoder_param_groups()]
        calibration = [{"params": list(self.calibration_head.parameters()), "lr": train.lr_head}]
        return [torch.optim.Adam(groups, weight_decay=train.weight_decay) for groups in (clustering, calibration)]

    def train_step(self, batch: Batch) -> StepOutput:
        """CDC's losses of one batch over all its sub-batches, without stepping (see the class docstring)."""
        plan = self._plan(batch)
        return _combine([self._sub_batch_loss(batch, plan, start, stop) for start, stop in self._sub_batches(batch)])

    def fit_batch(
        self, batch: Batch, optimizers: list[torch.optim.Optimizer], sample_weight: Tensor | None = None
    ) -> StepOutput:
        """Train on one batch as the reference does: after every sub-batch, one backward pass of its two losses
        (weighted per sample when ``sample_weight`` [B] is given) and one step of each optimiser."""
        plan = self._plan(batch)
        parts = []
        for start, stop in self._sub_batches(batch):
            part = self._sub_batch_loss(batch, plan, start, stop)
            weight = None if sample_weight is None else sample_weight[start:stop]
            descend(weighted_objective(part.objective(), part.sample_loss, weight), optimizers)
            parts.append(part)
        return _combine(parts)

    def _sub_batches(self, batch: Batch) -> list[tuple[int, int]]:
        """[start, stop) of each sub-batch; a trailing single row joins the previous one (train-mode BN needs
        two rows)."""
        size, total = self.params.sub_batch_size, len(batch.index)
        bounds = [(start, min(start + size, total)) for start in range(0, total, size)]
        if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
            bounds[-2:] = [(bounds[-2][0], total)]
        return bounds

    @torch.no_grad()
    def _plan(self, batch: Batch) -> _BatchPlan:
        """Steps 1-3 of the class docstring on the whole batch."""
        params = self.params
        val_features = self.encoder(batch.views["val"])
        p_weak = F.softmax(self.calibration_head(self.encoder(batch.views["weak"])), dim=1)
        p_cluster_val = F.softmax(self.cluster_head(val_features), dim=1)
        positions, pseudo_labels = cdc_select(p_weak, params.top_m)
        n_mini = min(params.mini_clusters, val_features.shape[0])
        groups = batch_kmeans(
            F.normalize(val_features, p=1, dim=1), n_mini, params.kmeans_iters, self.config.train.seed
        )
        targets = group_mean_targets(groups, p_cluster_val, n_mini)
        return _BatchPlan(val_features, positions, pseudo_labels, targets)

    def _sub_batch_loss(self, batch: Batch, plan: _BatchPlan, start: int, stop: int) -> _SubBatchLoss:
        """Clustering loss (strong view, selected samples) and calibration loss of batch rows [start, stop)."""
        inside = (plan.positions >= start) & (plan.positions < stop)
        strong_logits = self.cluster_head(self.encoder(batch.views["strong"][start:stop]))
        clustering, clustering_share = cdc_clustering_loss(
            strong_logits, plan.positions[inside] - start, plan.pseudo_labels[inside]
        )
        calibration, calibration_share = cdc_calibration_loss(
            self.calibration_head(plan.val_features[start:stop]), plan.targets[start:stop],
            self.params.entropy_weight,
        )
        return _SubBatchLoss(
            clustering if inside.any() else None, calibration, clustering_share + calibration_share
        )

    @torch.no_grad()
    def predict(self, batch: Batch, view: str = "val") -> Tensor:
        """Calibration-head probabilities [B, K] of the batch's ``view``."""
        return F.softmax(self.calibration_head(self.encoder(batch.views[view])), dim=1)


def _combine(parts: list[_SubBatchLoss]) -> StepOutput:
    """The batch's loss (mean clustering over sub-batches with a selection + mean calibration) and shares [B]."""
    clustering = [part.clustering for part in parts if part.clustering is not None]
    calibration = torch.stack([part.calibration for part in parts]).mean()
    loss = calibration + torch.stack(clustering).mean() if clustering else calibration
    return StepOutput(loss, torch.cat([part.sample_loss for part in parts]))
