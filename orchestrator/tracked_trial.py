"""The function Ray Tune runs for each trial: the trial side's ``run_under_tune`` plus MLflow tracking and failures.

The driver's Ray calls (binding the trainable, its resources) are here; every call made inside a running trial
goes through ``trainables.tune_session``.

Ray passes ``{"trial": PlannedTrial.as_tune_config(), <searched dotted keys>..., "__trial_index__": i}``; the
searched keys (Optuna) override the trial's config and the Repeater index picks the seed of a search trial.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ray import tune

from orchestrator.plan import DEFAULT_METHOD, RESOLVED, SEED_KEY, PlannedTrial, resolved_trial
from orchestrator.tracking import SweepContext, TrialRun
from trainables.config import flatten
from trainables.metric_names import STOP_EPOCH, TOTAL_TRAIN_TIME
from trainables.validation import validate_trial_config

TRIAL = "trial"
REPEAT_INDEX = "__trial_index__"
SEEDS = "seeds"
Body = Callable[..., Any]


def resolve_trial(config: dict[str, Any]) -> PlannedTrial:
    """The trial Ray asked for: a planned trial as is, or a search trial named after its sampled values.

    A planned trial was validated by the planner; its TrialConfig is rebuilt from the flat dict when first used
    (``PlannedTrial.trial_config``). A search trial is new here: its sampled values are validated once.
    """
    planned = dict(config[TRIAL])
    sampled = {key: value for key, value in config.items() if key not in (TRIAL, REPEAT_INDEX)}
    if not sampled:
        fields = {key: planned[key] for key in ("name", "arm", "seed", "key", "config")}
        return PlannedTrial(**fields, resolved=planned.get(RESOLVED))
    seeds = planned[SEEDS]
    seed = seeds[int(config.get(REPEAT_INDEX, 0)) % len(seeds)]
    flat = {**planned["config"], **sampled, SEED_KEY: seed}
    digest = hashlib.sha1(json.dumps(sampled, sort_keys=True, default=str).encode()).hexdigest()[:8]
    name = f"{flat.get('method.name', DEFAULT_METHOD)}/{planned['arm']}/search-{digest}/seed{seed}"
    return resolved_trial(name, planned["arm"], flat, validate_trial_config(flat, context=f"trial {name}"))


def sweep_trainable(config: dict[str, Any], context: SweepContext, body: Body | None = None) -> None:
    """Run one trial under Ray Tune, logging to its (found or created) MLflow child run.

    A trial whose run is already FINISHED is not trained again: its final metrics are reported once.
    ``body`` is the trial side's ``trainables.tune_session.run_under_tune`` unless a test injects another.

    Raises:
        Whatever the trial raises, after its run is ended FAILED with the error tag (Ray then retries it). A worker
        being stopped (SystemExit, KeyboardInterrupt: the sweep was interrupted) is not a failure: its run stays
        RUNNING, the driver ends it KILLED, and a resume continues it from its checkpoint.
    """
    from trainables.tune_session import current_node_id, report_metrics, run_under_tune

    body = body or run_under_tune
    trial = resolve_trial(config)
    run = TrialRun.open(context, trial.name, trial.key, trial.arm, trial.seed, flatten(trial.trial_config))
    if run.is_finished:
        report_metrics(run.latest_metrics())
        return
    run.record_node(current_node_id())
    try:
        body(trial.trial_config, callbacks=(MlflowTrialLogger(run),))
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as error:
        run.fail(error)
        raise


class MlflowTrialLogger:
    """A TrialCallback that logs each epoch once (skipping epochs a previous attempt logged) and the final result."""

    def __init__(self, run: TrialRun) -> None:
        self._run = run
        self._logged_up_to = run.last_logged_epoch()

    def on_epoch_end(self, epoch: int, metrics: dict[str, float], checkpoint_dir: Path | None) -> None:
        if epoch > self._logged_up_to:
            self._run.log_epoch(epoch, metrics)
            self._logged_up_to = epoch

    def on_trial_end(self, result: Any) -> None:
        """Log ``stop_epoch``, ``total_train_time_s``, the K-means reference, predictions and curve; end FINISHED."""
        final = {
            STOP_EPOCH: result.stop_epoch,
            TOTAL_TRAIN_TIME: float(sum(row.get("train_time_s", 0.0) for row in result.curve)),
            **result.reference,
        }
        probabilities = np.asarray(result.probabilities)
        predictions = {
            "pred": np.asarray(result.predictions),
            "prob_max": probabilities.max(axis=1),
            "labels": np.asarray(result.labels),
        }
        self._run.finish(final, result.curve, predictions)


def build_trainable(context: SweepContext, resources: dict[str, float], body: Body | None = None) -> Any:
    """``sweep_trainable`` bound to the sweep (``tune.with_parameters``) with per-trial ``resources``
    (``Resources.per_trial()``: cpu, gpu and any custom resources)."""
    bound = tune.with_parameters(sweep_trainable, context=context, body=body)
    return tune.with_resources(bound, resources)


def trial_dirname(trial: Any) -> str:
    """Ray's folder of a trial: its id and readable name (``0a1b2_00003-cdc_ours_seed3``), not its whole config."""
    return f"{trial.trial_id}-{resolve_trial(trial.config).name.replace('/', '_')}"[:120]


def search_trial_template(arm: str, config: dict[str, Any], seeds: Sequence[int]) -> dict[str, Any]:
    """The fixed part of every search trial's Ray config (the searched keys are added by Optuna)."""
    return {"arm": arm, "config": config, SEEDS: list(seeds)}
