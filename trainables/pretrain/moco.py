"""MoCo-v2 (Chen et al. 2020, "Improved Baselines with Momentum Contrastive Learning").

A query encoder + 2-layer MLP projector, a momentum copy of both for the keys, a queue of past keys as negatives
and the InfoNCE loss at temperature 0.2. On one device, shuffled BatchNorm is emulated by encoding the keys in
shuffled chunks, so the BN statistics of a key never include its own query's positive.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


def info_nce_loss(query: torch.Tensor, key: torch.Tensor, queue: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean InfoNCE loss: cross-entropy picking the positive key among it and the queue.

    Args:
        query, key: [B, D] L2-normalised embeddings of two views of the same images.
        queue: [Q, D] L2-normalised negatives.
    """
    positive = (query * key).sum(dim=1, keepdim=True)
    negatives = query @ queue.T
    logits = torch.cat([positive, negatives], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(query), dtype=torch.long, device=query.device))


def projector(feature_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """MoCo-v2's MLP head: Linear - ReLU - Linear."""
    return nn.Sequential(nn.Linear(feature_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim))


class MoCo(nn.Module):
    """Query/key encoders with projectors and the negative queue.

    Args:
        backbone: maps images to [B, backbone.feature_dim].
        queue_size: number of stored negatives Q.
        momentum: key-encoder EMA coefficient m (theta_k <- m theta_k + (1 - m) theta_q).
        shuffle_chunks: how many BN groups the shuffled key batch is split into.
    """

    def __init__(
        self,
        backbone: nn.Module,
        queue_size: int = 4096,
        out_dim: int = 128,
        momentum: float = 0.99,
        temperature: float = 0.2,
        shuffle_chunks: int = 4,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = projector(backbone.feature_dim, max(backbone.feature_dim, out_dim), out_dim)
        self.momentum_backbone = copy.deepcopy(backbone).requires_grad_(False)
        self.momentum_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.momentum = momentum
        self.temperature = temperature
        self.shuffle_chunks = shuffle_chunks
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, out_dim), dim=1))
        self.register_buffer("queue_pointer", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def _update_momentum_encoder(self) -> None:
        online = list(self.backbone.parameters()) + list(self.projector.parameters())
        target = list(self.momentum_backbone.parameters()) + list(self.momentum_projector.parameters())
        torch._foreach_lerp_(target, online, 1 - self.momentum)

    @torch.no_grad()
    def _keys(self, images: torch.Tensor) -> torch.Tensor:
        order = torch.randperm(len(images), device=images.device)
        chunks = [self.momentum_projector(self.momentum_backbone(chunk))
                  for chunk in images[order].chunk(self.shuffle_chunks)]
        keys = torch.empty_like(torch.cat(chunks))
        keys[order] = torch.cat(chunks)
        return F.normalize(keys, dim=1)

    @torch.no_grad()
    def _enqueue(self, keys: torch.Tensor) -> None:
        positions = (self.queue_pointer + torch.arange(len(keys), device=keys.device)) % len(self.queue)
        self.queue[positions] = keys
        self.queue_pointer.copy_((self.queue_pointer + len(keys)) % len(self.queue))

    def forward(self, view_q: torch.Tensor, view_k: torch.Tensor) -> torch.Tensor:
        """One training step's loss for two augmented views [B, C, H, W]; updates the key encoder and queue."""
        query = F.normalize(self.projector(self.backbone(view_q)), dim=1)
        self._update_momentum_encoder()
        keys = self._keys(view_k)
        loss = info_nce_loss(query, keys, self.queue.clone().detach(), self.temperature)
        self._enqueue(keys)
        return loss
