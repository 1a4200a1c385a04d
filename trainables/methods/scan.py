"""SCAN (Van Gansbeke et al., "SCAN: Learning to Classify Images without Labels", ECCV 2020).

``stage="scan"`` (default): Linear(D, K) heads trained so that each anchor and a neighbour mined from the
pre-trained features agree, with an entropy term against collapse. ``heads`` > 1 trains several heads side by
side on the same features and neighbours (their losses summed, as the reference does) and predicts with the head
of lowest SCAN loss.

``stage="selflabel"`` (SCAN's second stage, run as its own trial, as TCL's boost stage is): weak = val view,
strong = strong view; the samples whose max softmax on the weak view exceeds ``confidence_threshold`` are
pseudo-labelled with its argmax, and the loss is the cross-entropy of the strong-view logits on them with class
weights inversely proportional to the pseudo-label counts (``balanced_cross_entropy``). It trains one head.
As in the reference, it starts from the SCAN stage: ``scan_checkpoint`` names a checkpoint directory of a
finished SCAN-stage trial (same dataset and encoder), whose encoder and lowest-loss head it loads in place of
the head initialisation. Without it the stage starts from the configured head initialisation.

The per-sample output: ``sample_loss`` sums each sample's share of every head's loss, so its mean is the loss.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainables.trial_checkpoints import load_checkpoint
from trainables.config import TrialConfig
from trainables.errors import CheckpointError
from trainables.methods import METHODS
from trainables.methods.base import Batch, ClusteringMethod, StepOutput
from trainables.methods.contrastive import balanced_cross_entropy
from trainables.methods.heads import head_input_rows, l2_normalise_rows, set_linear_rows
from trainables.methods.losses import scan_loss
from trainables.neighbours import knn
from trainables.plugins.base import Initializer

# Expected row norm of PyTorch's default Linear weight U(-1/sqrt(D), 1/sqrt(D)): sqrt(D * 1/(3D)).
DEFAULT_LINEAR_ROW_NORM = 1.0 / math.sqrt(3.0)
# Each head's tracked SCAN loss is an exponential average over training batches (about the last ten).
HEAD_LOSS_MOMENTUM = 0.99  # ~100 batches: close to the reference's full-pass loss; at 0.9 the chosen head flipped between epochs
STAGE_VIEWS = {"scan": ("strong",), "selflabel": ("val", "strong")}


@METHODS.register("scan")
class Scan(ClusteringMethod):
    """SCAN behind the ClusteringMethod interface (see the module docstring).

    Before training the engine must call ``prepare(features)`` (mines neighbours) and
    ``attach_view_source(source)`` (loads the strong view of each drawn neighbour, which is not in the batch).
    Neighbour lists hold the sample itself plus its ``num_neighbors`` nearest others by inner product of
    L2-normalised features (clipped to N - 1 on tiny data); one entry is drawn uniformly per anchor and step
    from the global torch RNG, so seeding and resuming follow the engine's RNG state.

    Head choice: the reference keeps the head with the lowest SCAN loss over the dataset after training. Here,
    without an extra pass, the buffer ``head_loss`` [heads] holds each head's SCAN loss averaged exponentially
    (factor ``HEAD_LOSS_MOMENTUM`` per batch) over the training batches, and ``predict`` uses its argmin; the
    buffer is part of the state, so resuming is exact. ``predict_heads`` gives every head's probabilities, so that
    DSS keeps one history per head and excludes by the chosen one: a change of the chosen head then does not reset
    the rule (with one shared history it re-included 89-100% of the excluded samples after each change on digits).
    """

    name = "scan"

    def __init__(self, config: TrialConfig, encoder: nn.Module, num_clusters: int, feature_dim: int):
        super().__init__(config, encoder, num_clusters, feature_dim)
        self.train_views = STAGE_VIEWS[self.params.stage]
        self.heads = nn.ModuleList(nn.Linear(feature_dim, num_clusters) for _ in range(self.params.heads))
        self.register_buffer("head_loss", torch.full((self.params.heads,), math.nan))
        self.neighbours: Tensor | None = None  # [N, 1 + num_neighbors] dataset indices, on CPU

    def prepare(self, features: np.ndarray) -> None:
        """Mine each sample's neighbours once from the [N, D] pre-trained features (the SCAN stage's only)."""
        if self.params.stage == "selflabel":
            return
        normalised = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
        _, nearest = knn(normalised, self.params.num_neighbors, metric="ip")
        own = np.arange(features.shape[0], dtype=np.int64)[:, None]
        self.neighbours = torch.from_numpy(np.concatenate([own, nearest], axis=1))

    def init_head(self, features: np.ndarray, initializer: Initializer, seed: int) -> None:
        """Head h gets the initializer's K centres (seed + h), L2-normalised and scaled to the default init's
        row norm; bias 0.

        Space: the centres, and with DACHI d_i and w_i = exp(alpha d_i) (method.md steps 2-5), are computed on
        ``head_input_rows`` of the [N, D] features, the heads' input. Their rows have mean 0 across dimensions,
        so a row's logits are its std times the cosine of its standardised features to each centre: the head's
        argmax is the nearest centre in the space it was clustered in. With ``random`` (centres None) the heads
        keep PyTorch's default init, as in SCAN. A self-label stage with ``scan_checkpoint`` loads that trial's
        encoder and lowest-loss head instead.

        Raises:
            CheckpointError: ``scan_checkpoint`` is unreadable or not a SCAN trial of this encoder and K.
        """
        if self.params.scan_checkpoint is not None:
            self._load_scan_stage(self.params.scan_checkpoint)
            return
        rows = head_input_rows(torch.tensor(features, dtype=torch.float32)).numpy()
        for offset, head in enumerate(self.heads):
            centres = initializer.centres(rows, self.num_clusters, seed + offset)
            if centres is None:
                return
            weights = l2_normalise_rows(torch.as_tensor(centres, dtype=torch.float32))
            set_linear_rows(head, weights * DEFAULT_LINEAR_ROW_NORM)

    def train_step(self, batch: Batch) -> StepOutput:
        """The loss of the configured stage on one batch (see the module docstring).

        Raises:
            RuntimeError: in the SCAN stage, ``prepare`` or ``attach_view_source`` was not called first.
        """
        return self._self_label_step(batch) if self.params.stage == "selflabel" else self._scan_step(batch)

    def _scan_step(self, batch: Batch) -> StepOutput:
        """SCAN loss of the batch's anchors and one random neighbour each, both under the strong view."""
        neighbour_views = self._load_views(self._draw_neighbours(batch.index), "strong")
        anchors = self.encoder(batch.views["strong"])
        neighbours = self.encoder(neighbour_views.to(anchors.device))
        losses, shares = zip(
            *(scan_loss(head(anchors), head(neighbours), self.params.entropy_weight) for head in self.heads)
        )
        losses = torch.stack(losses)
        if self.training:
            self._track_head_loss(losses.detach())
        return StepOutput(losses.sum(), torch.stack(shares).sum(dim=0))

    def _self_label_step(self, batch: Batch) -> StepOutput:
        """Class-balanced cross-entropy of the strong view on the weak (val) view's confident argmax."""
        head = self.heads[0]
        with torch.no_grad():
            confidence, argmax = F.softmax(head(self.encoder(batch.views["val"])), dim=1).max(dim=1)
        pseudo_labels = torch.where(confidence > self.params.confidence_threshold, argmax, -1)
        loss, sample_loss = balanced_cross_entropy(head(self.encoder(batch.views["strong"])), pseudo_labels)
        return StepOutput(loss, sample_loss)

    @torch.no_grad()
    def _track_head_loss(self, losses: Tensor) -> None:
        first = torch.isnan(self.head_loss)
        blended = HEAD_LOSS_MOMENTUM * self.head_loss + (1 - HEAD_LOSS_MOMENTUM) * losses
        self.head_loss.copy_(torch.where(first, losses, blended))

    @property
    def num_heads(self) -> int:
        return len(self.heads)

    def predicting_head(self) -> int:
        """Index of the head with the lowest tracked SCAN loss (0 before any training)."""
        return _lowest(self.head_loss)

    def _load_scan_stage(self, directory: Path) -> None:
        """The encoder and the lowest-loss head of the SCAN-stage trial checkpointed at ``directory``."""
        state = load_checkpoint(directory).get("engine", {}).get("method", {})  # run_epochs' checkpoint layout
        try:
            best = _lowest(state["head_loss"])
            self.heads[0].load_state_dict({name: state[f"heads.{best}.{name}"] for name in ("weight", "bias")})
            self.encoder.load_state_dict(
                {key.removeprefix("encoder."): value for key, value in state.items() if key.startswith("encoder.")}
            )
        except (KeyError, RuntimeError) as error:
            raise CheckpointError(
                f"{directory} holds no SCAN-stage trial of this encoder and K ({type(error).__name__}); pass "
                "method.params.scan_checkpoint of a SCAN trial on the same dataset and encoder"
            ) from None

    def predict(self, batch: Batch, view: str = "val") -> Tensor:
        """Cluster probabilities [B, K] of the batch's ``view``, from ``predicting_head``."""
        return self.predict_heads(batch, view)[self.predicting_head()]

    @torch.no_grad()
    def predict_heads(self, batch: Batch, view: str = "val") -> Tensor:
        """Cluster probabilities [heads, B, K] of the batch's ``view``, one encoder pass for all heads."""
        features = self.encoder(batch.views[view])
        return torch.stack([F.softmax(head(features), dim=1) for head in self.heads])

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


def _lowest(head_loss: Tensor) -> int:
    """Index of the lowest of the [heads] tracked losses; 0 when none is tracked yet (all NaN)."""
    tracked = torch.nan_to_num(head_loss, nan=math.inf)
    return int(tracked.argmin()) if torch.isfinite(tracked).any() else 0
