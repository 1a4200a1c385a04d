"""Filling the feature cache on the driver once per (dataset, encoder) before any trial starts."""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.plan import PlannedTrial
from trainables.config import parse_trial_config


def prefill_feature_cache(trials: Iterable[PlannedTrial]) -> int:
    """Extract and cache the pre-trained features of each distinct (dataset, encoder, cache folder).

    Trials then find them in the content-addressed cache instead of extracting them once each.
    Returns the number of distinct feature sets prepared.

    Raises:
        DataError, CheckpointError: the dataset or the encoder checkpoint cannot be read.
    """
    from trainables.models.encoders import encoder_cache_key
    from trainables.trial import pretrained_features

    prepared: set[tuple[str, str, str]] = set()
    for trial in trials:
        config = parse_trial_config(trial.config)
        weights = encoder_cache_key(config.encoder, config.train.seed)
        identity = (config.dataset.model_dump_json(), weights, str(config.cache_dir))
        if identity not in prepared:
            pretrained_features(config)
            prepared.add(identity)
    return len(prepared)
