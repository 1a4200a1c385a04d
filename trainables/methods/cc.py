"""CC: Contrastive Clustering (Li et al., AAAI 2021), under the paper's shared protocol.

Heads on the encoder's [B, D] features:
- instance head Linear(D, 512) - ReLU - Linear(512, 128), L2-normalised;
- cluster head Linear(D, 512) - ReLU - Linear(512, K), then softmax.

Loss of a batch: instance NT-Xent (temperature 0.5) plus the cluster-level contrastive loss (temperature 1.0)
with the entropy term log K + sum_k pbar_k log pbar_k of each view. The two augmented views are SCAN's weak and
strong views (the protocol CDC introduced and the paper follows). CC's hyper-parameters do not change with the
dataset (no ``DATASET_DEFAULTS`` entry); the learning rates live in ``config.train``.

Recommended train settings (paper protocol: Adam, CDC's learning rates, 100 epochs, backbone fine-tuned):
``train.lr_head=1e-4``, ``train.lr_backbone=5e-5`` (CIFAR-20 and Tiny-ImageNet: 1e-5), ``train.weight_decay=0``,
``train.batch_size=256``.

Per-sample outputs: ``sample_loss`` is each sample's instance term (the mean of its two anchor losses) plus an
equal share of the batch-level cluster term, so ``sample_loss.mean() == loss``.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainables.config import TrialConfig
from trainables.methods import METHODS
from trainables.methods.base import Batch, ClusteringMethod, StepOutput
from trainables.methods.contrastive import cluster_contrastive_loss, nt_xent
from trainables.methods.heads import head_input_rows, l2_normalise_rows, mlp_head, set_linear_rows
from trainables.plugins.base import Initializer


@METHODS.register("cc")
class CC(ClusteringMethod):
    """Contrastive Clustering: instance- and cluster-level contrast between the weak and strong views."""

    name = "cc"
    train_views = ("weak", "strong")

    def __init__(self, config: TrialConfig, encoder: nn.Module, num_clusters: int, feature_dim: int):
        super().__init__(config, encoder, num_clusters, feature_dim)
        self.instance_head = self.build_instance_head()
        self.cluster_head = self.build_cluster_head()

    def build_instance_head(self) -> nn.Sequential:
        """[B, D] features -> [B, instance_dim] projections (normalised in ``forward_views``)."""
        p = self.params
        return mlp_head([self.feature_dim, p.hidden_dim, p.instance_dim], batch_norm=False)

    def build_cluster_head(self) -> nn.Sequential:
        """[B, D] features -> [B, K] logits; its last module is the Linear that outputs K clusters."""
        p = self.params
        return mlp_head([self.feature_dim, p.hidden_dim, self.num_clusters], batch_norm=False)

    @torch.no_grad()
    def init_head(self, features: np.ndarray, initializer: Initializer, seed: int) -> None:
        """Initialise the Linear that outputs K clusters from [N, D] pre-trained features (method.md step 6).

        Space: the features go through the cluster head's earlier layers (batch statistics of all N features for
        any BatchNorm, without touching its running statistics), the last layer's input; ``initializer`` gives K
        centres of ``head_input_rows`` of that input, the space where the centres, and with DACHI d_i and
        w_i = exp(alpha d_i) (method.md steps 2-5), are computed in every method. The centres are L2-normalised,
        rescaled to the mean row norm of the layer's own random initialisation, and the bias is set to 0.
        ``None`` from the initializer keeps the random init. Call it on the freshly built head.
        """
        last = self.cluster_head[-1]
        hidden = _forward_batch_statistics(self.cluster_head[:-1], features, last.weight.device)
        rows = head_input_rows(torch.from_numpy(hidden)).numpy()
        centres = initializer.centres(rows, self.num_clusters, seed)
        if centres is None:
            return
        scale = last.weight.norm(dim=1).mean()
        set_linear_rows(last, l2_normalise_rows(torch.as_tensor(centres, dtype=torch.float32)) * scale)

    def forward_views(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """[B, ...] images -> (L2-normalised [B, instance_dim] projections, [B, K] cluster logits)."""
        features = self.encoder(images)
        return F.normalize(self.instance_head(features), dim=1), self.cluster_head(features)

    def train_step(self, batch: Batch) -> StepOutput:
        """Both views through both heads, then ``objective``."""
        z_weak, logits_weak = self.forward_views(batch.views["weak"])
        z_strong, logits_strong = self.forward_views(batch.views["strong"])
        loss, sample_loss = self.objective(z_weak, z_strong, logits_weak, logits_strong)
        return StepOutput(loss=loss, sample_loss=sample_loss)

    def objective(
        self, z_weak: Tensor, z_strong: Tensor, logits_weak: Tensor, logits_strong: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Instance NT-Xent plus cluster contrast with entropy: (scalar loss, attached [B] per-sample share).

        The share is each sample's instance term plus an equal share of the batch-level cluster term.
        """
        p = self.params
        instance, instance_share = nt_xent(z_weak, z_strong, p.instance_temperature)
        cluster = cluster_contrastive_loss(
            logits_weak.softmax(dim=1), logits_strong.softmax(dim=1), p.cluster_temperature, p.entropy_weight
        )
        return instance + cluster, instance_share + cluster

    def predict(self, batch: Batch, view: str = "val") -> Tensor:
        """[B, K] cluster probabilities of the batch's ``view``."""
        return self.cluster_head(self.encoder(batch.views[view])).softmax(dim=1)


@torch.no_grad()
def _forward_batch_statistics(layers: nn.Sequential, features: np.ndarray, device: torch.device) -> np.ndarray:
    """[N, D] features through a copy of ``layers`` in train mode (BatchNorm uses the N-sample statistics).

    Returns the [N, d] float32 output; the original layers, their mode and their running statistics are unchanged.
    """
    probe = copy.deepcopy(layers).train()
    inputs = torch.as_tensor(np.array(features, dtype=np.float32), device=device)
    return probe(inputs).cpu().numpy()
