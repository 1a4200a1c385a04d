"""Filling the feature cache on the driver once per (dataset, encoder) before any trial starts, and checking there
that each dataset's training views keep what the encoder sees (``trainables.view_sanity``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

from orchestrator.plan import PlannedTrial


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def prefill_feature_cache(trials: Iterable[PlannedTrial], warn: Callable[[str], None] = _to_stderr) -> int:
    """Extract and cache the pre-trained features of each distinct (dataset, encoder, cache folder).

    Trials then find them in the content-addressed cache instead of extracting them once each. On each distinct
    (dataset, encoder config) the view sanity check runs once, on the first trial's weights: the seeds of an
    encoder without a checkpoint are different random weights, but they see the same views, and checking each
    would repeat the same warnings and cost seconds per trial before any trial starts. Each view that fails it
    is reported to ``warn`` in one line, and its trials still run. Returns the number of distinct feature sets
    prepared.

    Raises:
        DataError, CheckpointError: the dataset or the encoder checkpoint cannot be read.
    """
    from trainables.models.encoders import encoder_cache_key
    from trainables.trial import pretrained_features
    from trainables.view_sanity import check_views

    prepared: set[tuple[str, str, str]] = set()
    checked: set[tuple[str, str]] = set()  # (dataset, encoder config)
    for trial in trials:
        config = trial.trial_config
        weights = encoder_cache_key(config.encoder, config.train.seed)
        identity = (config.dataset.model_dump_json(), weights, str(config.cache_dir))
        if identity in prepared:
            continue
        dataset, encoder, features = pretrained_features(config)
        prepared.add(identity)
        views_and_lens = (identity[0], config.encoder.model_dump_json())
        if views_and_lens not in checked:
            checked.add(views_and_lens)
            for result in check_views(encoder, dataset, features, config.train.seed):
                if not result.healthy:
                    warn(result.warning())
    return len(prepared)
