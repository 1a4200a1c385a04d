"""One trial, in-process: assemble the parts from a TrialConfig, run the epochs, checkpoint, report to callbacks.

Usable without Ray (tests, debugging); ``trainables.tune_session`` adapts it to Ray Tune.

Example:
    >>> result = run_trial({"dataset.name": "digits", "method.name": "scan", "train.epochs": 3})
    >>> result.metrics["acc"], result.stop_epoch
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainables.config import TrialConfig
from trainables.data.base import ClusteringDataset, build_dataset
from trainables.density import density_regions
from trainables.device import resolve_device
from trainables.engine import TrialParts
from trainables.features import extract_features
from trainables.methods import METHODS
from trainables.methods.base import dataset_view_source
from trainables.metric_names import REFERENCE_METRICS
from trainables.metrics import REGIONS, ari, cluster_accuracy, nmi
from trainables.models.encoders import build_encoder, encoder_cache_key
from trainables.plugins import INIT_STRATEGIES, SELECTION_STRATEGIES
from trainables.plugins.early_stop import PruningEarlyStop
from trainables.seeding import seed_everything
from trainables.trial_loop import TrialCallback, TrialResult, load_resume_state, run_epochs
from trainables.validation import validate_trial_config
from trainables.view_sanity import cluster_labels

__all__ = ["TrialCallback", "TrialResult", "assemble", "pretrained_features", "run_trial"]

DENSITY_K = 10
REFERENCE_SCORES = {"acc": cluster_accuracy, "nmi": nmi, "ari": ari}
# scikit-learn's classic n_init: at 3, digits seeds 1 and 8 of 10 kept a worse optimum (ACC 80 and 86 against 90).
REFERENCE_RESTARTS = 10


def run_trial(
    config: TrialConfig | dict[str, Any],
    callbacks: Sequence[TrialCallback] = (),
    resume_from: Path | None = None,
    workdir: Path | None = None,
) -> TrialResult:
    """Run one trial to its last epoch (or early stop), continuing after the checkpoint ``resume_from`` if given.

    Checkpoints are written under ``workdir`` (a temporary folder when None) every ``train.checkpoint_every``
    epochs and at the end; only the latest is kept (see ``trainables.trial_loop.run_epochs``).

    Raises:
        ConfigError: the config is invalid.
        CheckpointError: ``resume_from`` is unreadable or was written for a different config.
        TrainingError: the loss diverged.
    """
    config = config if isinstance(config, TrialConfig) else validate_trial_config(config)
    # Read (and checked) once, before the dataset and model are built, so that a foreign checkpoint fails fast.
    resume = load_resume_state(resume_from, config) if resume_from is not None else None
    return run_epochs(assemble(config), config, callbacks, resume_from=resume, workdir=workdir)


def assemble(config: TrialConfig) -> TrialParts:
    """Build dataset, encoder, cached features, density regions, method (prepared, head initialised),
    optimisers, selector and early stop, in a seeded order so that two calls give identical parts."""
    device = resolve_device(config.train.device)
    dataset, encoder, features = pretrained_features(config)
    targets = np.asarray(dataset.targets, dtype=np.int64)
    regions = np.asarray(REGIONS)[density_regions(features, k=DENSITY_K)]
    # Computing the features draws random numbers and reading them from the cache does not: re-seed, so that the
    # head's random draw depends on the seed alone, not on whether this trial found the cache warm.
    seed_everything(config.train.seed)
    method = METHODS.get(config.method.name).build(config, encoder, dataset.num_classes, encoder.feature_dim)
    method.to(device)
    train_views = tuple(dict.fromkeys((*method.train_views, "weak", "strong")))
    train_set = dataset.with_views(train_views)
    method.attach_view_source(dataset_view_source(train_set))
    method.prepare(features)
    method.init_head(features, INIT_STRATEGIES.get(config.init.strategy)(config.init), config.train.seed)
    selector = SELECTION_STRATEGIES.get(config.selection.strategy)(
        config.selection, len(dataset), config.train.seed, config.train.epochs
    )
    patience = config.early_stop.patience
    return TrialParts(
        method=method,
        optimizers=method.configure_optimizers(),
        selector=selector,
        early_stop=PruningEarlyStop(patience) if patience is not None else None,
        train_set=train_set,
        val_set=dataset.with_views(("val",)),
        targets=targets,
        regions=regions,
        device=device,
        reference=kmeans_reference(features, targets, dataset.num_classes, config.train.seed),
    )


def kmeans_reference(features: np.ndarray, targets: np.ndarray, num_classes: int, seed: int) -> dict[str, float]:
    """ACC, NMI and ARI of K-means (K = ``num_classes``) on the L2-normalised [N, D] pre-trained features, as
    ``kmeans_acc`` etc.: what the features give before any head is trained (best of ``REFERENCE_RESTARTS``)."""
    labels = cluster_labels(features, num_classes, seed, REFERENCE_RESTARTS)
    return {REFERENCE_METRICS[name]: score(targets, labels) for name, score in REFERENCE_SCORES.items()}


def pretrained_features(config: TrialConfig) -> tuple[ClusteringDataset, torch.nn.Module, np.ndarray]:
    """The dataset (val view), the seeded encoder with its checkpoint, and its cached [N, D] features.

    Features are read from (or written once to) the content-addressed cache in ``config.cache_dir``.
    """
    seed_everything(config.train.seed)  # a random-init encoder depends on the seed
    dataset = build_dataset(config.dataset, views=("val",))
    encoder = build_encoder(config.encoder, dataset)
    features = extract_features(
        encoder, dataset, Path(config.cache_dir).expanduser(), encoder_cache_key(config.encoder, config.train.seed),
        resolve_device(config.train.device), batch_size=config.train.score_batch_size,
    )
    return dataset, encoder, features
