"""SCAN (Van Gansbeke et al., "SCAN: Learning to Classify Images without Labels", ECCV 2020).

A Linear(D, K) head trained so that each anchor and a neighbour mined from the pre-trained features agree,
with an entropy term against collapse. The self-labelling second stage is not implemented.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from trainables.config import TrialConfig
from trainables.methods import METHODS
from trainables.methods.base import Batch, ClusteringMethod, MethodParams, StepOutput
from trainables.methods.heads import l2_normalise_rows, set_linear_rows
from trainables.methods.losses import scan_loss
from trainables.neighbours import knn

# Expected row norm of PyTorch's default Linear weight U(-1/sqrt(D), 1/sqrt(D)): sqrt(D * 1/(3D)).
DEFAULT_LINEAR_ROW_NORM = 1.0 / math.sqrt(3.0)


class ScanParams(MethodParams):
    """SCAN's hyper-parameters (``method.params``)."""

    num_neighbors: int = Field(default=20, ge=1, description="neighbours mined per sample, besides itself")
    entropy_weight: float = Field(default=5.0, ge=0, description="lambda of the entropy term")


@METHODS.register("scan")
class Scan(ClusteringMethod):
    """SCAN's clustering step behind the ClusteringMethod interface.

    Before training the engine must call ``prepare(features)`` (mines neighbours) and
    ``attach_view_source(source)`` (loads the strong view of each drawn neighbour, which is not in the batch).
    Neighbour lists hold the sample itself plus its ``num_neighbors`` nearest others by inner product of
    L2-normalised features (clipped to N - 1 on tiny data); one entry is drawn uniformly per anchor and step
    from the global torch RNG, so seeding and resuming follow the engine's RNG state.
    """

    name = "scan"
    Params = ScanParams
    train_views = ("weak", "strong")

    def __init__(self, config: TrialConfig, encoder: nn.Module, num_clusters: int, feature_dim: int):
        super().__init__(config, encoder, num_clusters, feature_dim)
        self.head = nn.Linear(feature_dim, num_clusters)
        self.neighbours: Tensor | None = None  # [N, 1 + num_neighbors] dataset indices, on CPU

    def prepare(self, features: np.ndarray) -> None:
        """Mine each sample's neighbours once from the [N, D] pre-trained features."""
        normalised = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
        _, nearest = knn(normalised, self.params.num_neighbors, metric="ip")
        own = np.arange(features.shape[0], dtype=np.int64)[:, None]
        self.neighbours = torch.from_numpy(np.concatenate([own, nearest], axis=1))

    def init_head(self, features: np.ndarray, initializer: Any) -> None:
        """Rows = the initializer's K centres, L2-normalised and scaled to the default init's row norm; bias 0.

        With ``random`` (centres None) the head keeps PyTorch's default init, as in SCAN.
        """
        centres = initializer.centres(features, self.num_clusters, self.config.train.seed)
        if centres is None:
            return
        rows = l2_normalise_rows(torch.as_tensor(centres, dtype=torch.float32))
        set_linear_rows(self.head, rows * DEFAULT_LINEAR_ROW_NORM)

    def train_step(self, batch: Batch) -> StepOutput:
        """SCAN loss of the batch's anchors and one random neighbour each, both under the strong view.

        P^s comes from the anchors' strong forward, P^w from a no-grad forward of the weak view.

        Raises:
            RuntimeError: ``prepare`` or ``attach_view_source`` was not called first.
        """
        device = self.head.weight.device
        neighbour_views = self._load_views(self._draw_neighbours(batch.index), "strong").to(device)
        anchor_logits = self.head(self.encoder(batch.views["strong"]))
        neighbour_logits = self.head(self.encoder(neighbour_views))
        loss, sample_loss = scan_loss(anchor_logits, neighbour_logits, self.params.entropy_weight)
        with torch.no_grad():
            p_weak = F.softmax(self.head(self.encoder(batch.views["weak"])), dim=1)
        return StepOutput(loss, sample_loss, p_weak, F.softmax(anchor_logits.detach(), dim=1))

    @torch.no_grad()
    def predict(self, batch: Batch) -> Tensor:
        """Cluster probabilities [B, K] of the val view."""
        return F.softmax(self.head(self.encoder(batch.views["val"])), dim=1)

    def _draw_neighbours(self, index: Tensor) -> Tensor:
        """One dataset index [B] drawn uniformly from each anchor's neighbour list."""
        if self.neighbours is None:
            raise RuntimeError("SCAN has no neighbours; call prepare(features) before training")
        lists = self.neighbours[index.cpu()]
        choice = torch.randint(lists.shape[1], (lists.shape[0],))
        return lists[torch.arange(lists.shape[0]), choice]

    def _load_views(self, indices: Tensor, view: str) -> Tensor:
        if self.view_source is None:
            raise RuntimeError("SCAN loads neighbour images; call attach_view_source(...) before training")
        return self.view_source(indices, view)
