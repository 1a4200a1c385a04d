"""Filling the feature cache on the driver once per (dataset, encoder) before any trial starts."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from orchestrator.plan import PlannedTrial
from trainables.config import parse_trial_config


def prefill_feature_cache(trials: Iterable[PlannedTrial]) -> int:
    """Extract and cache the pre-trained features of each distinct (dataset, encoder, cache folder).

    Trials then find them in the content-addressed cache instead of extracting them once each.
    Returns the number of distinct feature sets prepared.

    Raises:
        DataError, CheckpointError: the dataset or the encoder checkpoint cannot be read.
    """
    from trainables.data.base import build_dataset
    from trainables.device import resolve_device, seed_everything
    from trainables.features import extract_features
    from trainables.models.encoders import build_encoder
    from trainables.trial import encoder_key

    prepared: set[tuple[str, str, str]] = set()
    for trial in trials:
        config = parse_trial_config(trial.config)
        identity = (config.dataset.model_dump_json(), encoder_key(config), str(config.cache_dir))
        if identity in prepared:
            continue
        seed_everything(config.train.seed)  # as trainables.trial.assemble: a random-init encoder is seeded
        dataset = build_dataset(config.dataset, views=("val",))
        encoder = build_encoder(config.encoder, dataset)
        extract_features(
            encoder, dataset, Path(config.cache_dir).expanduser(), encoder_key(config),
            resolve_device(config.train.device), batch_size=config.train.score_batch_size,
        )
        prepared.add(identity)
    return len(prepared)
