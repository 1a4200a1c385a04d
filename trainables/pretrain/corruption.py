"""Random feature corruption for vector data (Bahri et al. 2022, "SCARF: Self-Supervised Contrastive Learning
using Random Feature Corruption"), batched on tensors.

A view of a row replaces each of its features independently with probability ``rate`` by the same feature of
another row drawn uniformly from the dataset, i.e. by a draw from that feature's empirical marginal. Values stay
on each feature's own scale and support (binary features stay binary, counts stay counts), so no noise level has
to be chosen per dataset. SCARF's default rate is 0.6.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trainables.errors import ConfigError


@dataclass(frozen=True)
class CorruptionConfig:
    """The fraction of features a view replaces, in [0, 1)."""

    rate: float = 0.6

    def __post_init__(self) -> None:
        if not 0 <= self.rate < 1:
            raise ConfigError(f"the corruption rate must lie in [0, 1), but got {self.rate}; SCARF uses 0.6")


class FeatureCorruption:
    """Callable: [B, D] batch -> one independently corrupted view of the same shape.

    Args:
        pool: [N, D] rows whose values replace corrupted features (the whole dataset).
    """

    def __init__(self, config: CorruptionConfig, pool: torch.Tensor) -> None:
        self.config = config
        self.pool = pool

    def __call__(self, vectors: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Corrupt each row independently; ``generator`` (CPU or on the vectors' device) makes it repeatable."""
        rows, features = vectors.shape
        draw_device = generator.device if generator is not None else "cpu"
        replace = torch.rand(rows, features, generator=generator, device=draw_device) < self.config.rate
        donors = torch.randint(len(self.pool), (rows, features), generator=generator, device=draw_device)
        pool = self.pool.to(vectors.device)
        columns = torch.arange(features, device=vectors.device).expand(rows, features)
        marginal_draws = pool[donors.to(vectors.device), columns]
        return torch.where(replace.to(vectors.device), marginal_draws, vectors)
