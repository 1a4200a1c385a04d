"""TCL: Twin Contrastive Learning for online clustering (Li et al., IJCV 2022), under the paper's protocol.

Heads on the encoder's [B, D] features, both pre-activation:
- instance head BN - ReLU - Linear(D, 512) - BN - ReLU - Linear(512, 128), L2-normalised;
- cluster head of the same shape ending in Linear(512, K), then softmax; as in TCL's reference, both its Linear
  layers draw their weights from a normal with std 0.02 (truncated at +-2, which never binds), and their biases keep
  PyTorch's default.

``stage="cluster"`` (default): the weak and the strong view feed both heads; loss = instance NT-Xent (0.5) plus
the cluster-level contrastive loss (1.0) with the entropy term of each view, as in CC.

``stage="boost"`` (TCL's optional second stage, run as its own trial): per batch, for every cluster, the
ceil(``boost_fraction`` * B / K) most confident weak-view samples with confidence >= ``boost_threshold`` are
pseudo-labelled; loss = class-weighted cross-entropy of the strong view on them plus the instance NT-Xent with
same-pseudo-label negatives removed.

TCL's hyper-parameters do not change with the dataset, so it has no ``DATASET_DEFAULTS`` entry. Recommended train
settings (TCL: Adam, lr 1e-4, weight decay 1e-4; paper protocol: CDC's backbone learning rates, 100 epochs):
``train.lr_head=1e-4``, ``train.lr_backbone=5e-5`` (CIFAR-20 and Tiny-ImageNet: 1e-5),
``train.weight_decay=1e-4``, ``train.batch_size=256``.

Per-sample outputs: ``sample_loss.mean() == loss``. Cluster stage: each sample's instance term plus an equal share
of the batch-level cluster term. Boost stage: instance term plus the sample's weighted cross-entropy share (0 if
unlabelled).
"""

from __future__ import annotations

import math
from torch import Tensor, nn

from trainables.methods import METHODS
from trainables.methods.cc import CC
from trainables.methods.contrastive import balanced_cross_entropy, confident_pseudo_labels, nt_xent
from trainables.methods.heads import mlp_head


@METHODS.register("tcl")
class TCL(CC):
    """Twin Contrastive Learning: CC's objective on pre-activation heads, plus an optional boost stage."""

    name = "tcl"

    def build_instance_head(self) -> nn.Sequential:
        """[B, D] features -> [B, instance_dim] projections, BN - ReLU first."""
        p = self.params
        dims = [self.feature_dim, p.hidden_dim, p.instance_dim]
        return mlp_head(dims, batch_norm=True, input_activation=True)

    def build_cluster_head(self) -> nn.Sequential:
        """[B, D] features -> [B, K] logits; both Linear layers' weights are truncated-normal(0.02)."""
        p = self.params
        head = mlp_head(
            [self.feature_dim, p.hidden_dim, self.num_clusters], batch_norm=True, input_activation=True
        )
        for layer in head:
            if isinstance(layer, nn.Linear):
                nn.init.trunc_normal_(layer.weight, std=0.02)
        return head

    def objective(
        self, z_weak: Tensor, z_strong: Tensor, logits_weak: Tensor, logits_strong: Tensor
    ) -> tuple[Tensor, Tensor]:
        """CC's objective in the cluster stage; in the boost stage, pseudo-label CE plus masked instance NT-Xent."""
        if self.params.stage == "cluster":
            return super().objective(z_weak, z_strong, logits_weak, logits_strong)
        p = self.params
        per_cluster = math.ceil(p.boost_fraction * logits_weak.shape[0] / self.num_clusters)
        labels = confident_pseudo_labels(logits_weak.detach().softmax(dim=1), p.boost_threshold, per_cluster)
        same_label = (labels.unsqueeze(0) == labels.unsqueeze(1)) & (labels >= 0).unsqueeze(0)
        instance, instance_share = nt_xent(z_weak, z_strong, p.instance_temperature, pair_mask=same_label)
        cross_entropy, cross_entropy_share = balanced_cross_entropy(logits_strong, labels)
        return instance + cross_entropy, instance_share + cross_entropy_share
