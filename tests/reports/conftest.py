"""Synthetic sweeps written to a sqlite MLflow store with the orchestrator's schema, shared by the report tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from reports.runs import SweepRuns, load_sweep

EPOCHS = 4
NONIMAGE_ROOTS = ["/data/tabular/semeion/data.csv", "/data/tabular/cnae9/data.csv"]
ARMS = {
    "baseline": {"init.strategy": "prototype", "selection.strategy": "none"},
    "+DACHI": {"init.strategy": "dachi", "selection.strategy": "none"},
    "ours": {"init.strategy": "dachi", "selection.strategy": "dss"},
}
SPEC_ARM_ORDER = ["baseline", "ours", "+DACHI"]
"""The ablation spec lists its arms in neither alphabetical nor trial-name order; reports keep this order."""


@dataclass
class SyntheticTrial:
    """One trial to write: its params, tags and per-epoch metric values (fractions for acc-like metrics)."""

    params: dict[str, Any]
    arm: str
    seed: int
    history: dict[str, list[float]] = field(default_factory=dict)
    failed: str | None = None
    running: bool = False
    stop_epoch: int | None = None
    grid_point: str = ""
    once: dict[str, float] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] | None = None  # logged as predictions.npz, as a finished trial's are

    @property
    def name(self) -> str:
        method, dataset = self.params["method.name"], self.params["dataset.name"]
        return f"{method}/{dataset}{self.grid_point}/{self.arm}/seed{self.seed}"


def write_sweep(client: MlflowClient, sweep: str, trials: list[SyntheticTrial], spec: dict[str, Any], tmp: Path) -> str:
    """Write a parent run with ``spec.yaml`` and one child run per trial; returns the parent run id."""
    experiment_id = client.create_experiment(f"dcsweep/{sweep}", artifact_location=(tmp / "mlartifacts").as_uri())
    parent = client.create_run(
        experiment_id,
        run_name=sweep,
        tags={"dcsweep.role": "sweep", "dcsweep.sweep_id": sweep, "dcsweep.spec_hash": "h",
              "dcsweep.code_version": "t"},
    )
    spec_path = tmp / f"{sweep}-spec" / "spec.yaml"
    spec_path.parent.mkdir(parents=True)
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    client.log_artifact(parent.info.run_id, str(spec_path))
    for trial in trials:
        tags = {
            "mlflow.parentRunId": parent.info.run_id,
            "dcsweep.role": "trial",
            "dcsweep.sweep_id": sweep,
            "dcsweep.trial_name": trial.name,
            "dcsweep.trial_key": f"{trial.name}-key",
            "dcsweep.arm": trial.arm,
            "dcsweep.seed": str(trial.seed),
        }
        if trial.failed:
            tags["dcsweep.error"] = trial.failed
        run = client.create_run(experiment_id, run_name=trial.name, tags=tags)
        params = {**trial.params, "arm": trial.arm, "seed": trial.seed, "train.seed": trial.seed}
        metrics = [
            Metric(key, float(value), 1000 + epoch, epoch)
            for key, values in trial.history.items()
            for epoch, value in enumerate(values, start=1)
        ]
        metrics += [Metric("epoch", float(epoch), 1000 + epoch, epoch) for epoch in range(1, EPOCHS + 1)]
        if trial.stop_epoch is not None:
            metrics.append(Metric("stop_epoch", float(trial.stop_epoch), 5000, EPOCHS))
        metrics += [Metric(key, value, 500, 0) for key, value in trial.once.items()]
        client.log_batch(
            run.info.run_id,
            metrics=metrics,
            params=[Param(k, str(v)) for k, v in params.items()],
        )
        if trial.predictions is not None:
            folder = tmp / f"{sweep}-predictions" / run.info.run_id
            folder.mkdir(parents=True)
            np.savez(folder / "predictions.npz", **trial.predictions)
            client.log_artifact(run.info.run_id, str(folder / "predictions.npz"))
        if not trial.running:
            client.set_terminated(run.info.run_id, status="FAILED" if trial.failed else "FINISHED")
    return parent.info.run_id


def random_history(
    rng: np.random.Generator, level: float, epochs: int = EPOCHS, pruning: bool = True
) -> dict[str, list[float]]:
    """Plausible per-epoch metrics of a converged trial around accuracy ``level`` (fractions), drawn from ``rng``:
    each series sits at one level per trial (spread between seeds) with a little per-epoch noise, and the loss
    has levelled off. ``pruning=False`` logs zero pruned and re-included fractions, as an arm without DSS does."""
    def series(center: float, spread: float) -> list[float]:
        trial_level = center + spread * rng.standard_normal()
        return list(np.clip(trial_level + 0.001 * rng.standard_normal(epochs), 0.0, 1.0))

    return {
        "acc": series(level, 0.02),
        "nmi": series(level - 0.05, 0.02),
        "ari": series(level - 0.08, 0.02),
        "acc_high": series(level + 0.05, 0.02),
        "acc_mid": series(level, 0.02),
        "acc_low": series(level - 0.1, 0.02),
        "pruned_frac": ([0.0, 0.0, 0.0] + series(0.2, 0.05)[: epochs - 3]) if pruning else [0.0] * epochs,
        "reinclusion_frac": ([0.0, 0.0, 0.0] + series(0.5, 0.1)[: epochs - 3]) if pruning else [0.0] * epochs,
        "mean_abs_d2s": list(0.2 * np.exp(-np.arange(epochs)) + 0.01 * rng.random(epochs)),
        "train_time_s": series(0.5, 0.05),
        "loss": list(1.5 + 0.5 * np.exp(-4.0 * np.arange(epochs)) + 0.001 * rng.random(epochs)),
    }


@dataclass(frozen=True)
class SyntheticStore:
    """Where the synthetic sweeps live and what was written to them."""

    workdir: Path
    tracking_uri: str
    ablation: list[SyntheticTrial]
    sensitivity: list[SyntheticTrial]
    ablation_parent: str
    resumed: list[SyntheticTrial]


CROSSING_PREDICTIONS = {
    "pred": np.repeat([0, 1, 2, 1, 2], [40, 20, 20, 20, 20]),
    "labels": np.repeat([0, 1, 1, 2, 2], [40, 20, 20, 20, 20]),
}
"""Three classes of 40 in three clusters of 40: cluster 0 is class 0, clusters 1 and 2 each hold 20 of classes 1
and 2 (a partition that cuts across two classes)."""


def _ablation_trials(rng: np.random.Generator) -> list[SyntheticTrial]:
    """cdc and scan x three arms x two datasets x five seeds; one cdc/ours/cifar10 seed fails; the scan/stl10
    trials log ``CROSSING_PREDICTIONS``."""
    trials = []
    for method, dataset, (arm, overrides), seed in itertools.product(
        ["cdc", "scan"], ["cifar10", "stl10"], ARMS.items(), range(5)
    ):
        params = {"method.name": method, "dataset.name": dataset, "init.alpha": 2.0, "init.k": 10,
                  "selection.epsilon": 0.1, **overrides}
        level = 0.8 + 0.03 * list(ARMS).index(arm) + (0.05 if method == "cdc" else 0.0)
        history = random_history(rng, level, pruning=overrides["selection.strategy"] == "dss")
        trial = SyntheticTrial(params, arm, seed, history, stop_epoch=3, once=kmeans_reference(dataset, seed))
        if (method, dataset) == ("scan", "stl10"):
            trial.predictions = CROSSING_PREDICTIONS
        if (method, dataset, arm, seed) == ("cdc", "cifar10", "ours", 4):
            trial.failed = "training diverged: NaN loss at epoch 2 of cdc"
            trial.history = {k: v[:2] for k, v in trial.history.items()}
        trials.append(trial)
    return trials


def kmeans_reference(dataset: str, seed: int) -> dict[str, float]:
    """K-means on the pre-trained features, logged once per trial: the same for every method and arm of a seed.
    On STL-10 it sits near SCAN's baseline (0.80), so some cells end more than 2 points under it."""
    level = 0.7 + (0.12 if dataset == "stl10" else 0.0) + 0.01 * seed
    return {"kmeans_acc": level, "kmeans_nmi": level - 0.1, "kmeans_ari": level - 0.2}


def scripted_curve(start: float, end: float, epochs: int = 10) -> list[float]:
    """A straight line from ``start`` to ``end`` over ``epochs`` (flat when they are equal)."""
    return list(np.linspace(start, end, epochs))


def _convergence_trials() -> list[SyntheticTrial]:
    """scan on digits x three seeds: ``flat`` (ACC and loss level), ``rising`` (ACC still climbing 2 points per
    epoch) and ``falling_loss`` (no ACC logged, loss still falling); nothing is pruned."""
    params = {"method.name": "scan", "dataset.name": "digits", "selection.strategy": "none"}
    curves = {
        "flat": {"acc": scripted_curve(0.8, 0.8), "loss": scripted_curve(-9.0, -9.0)},
        "rising": {"acc": scripted_curve(0.6, 0.78), "loss": scripted_curve(-9.0, -9.0)},
        "falling_loss": {"loss": scripted_curve(-5.0, -9.0)},
    }
    return [
        SyntheticTrial(params, arm, seed, {**history, "pruned_frac": [0.0] * 10})
        for arm, history in curves.items()
        for seed in range(3)
    ]


def _nonimage_trials(rng: np.random.Generator) -> list[SyntheticTrial]:
    """scan on two ``arrays`` datasets given by path (a grid over ``dataset.root``) x two arms x three seeds."""
    trials = []
    for root, arm, seed in itertools.product(NONIMAGE_ROOTS, ["baseline", "ours"], range(3)):
        params = {"method.name": "scan", "dataset.name": "arrays", "dataset.root": root}
        trial = SyntheticTrial(params, arm, seed, random_history(rng, 0.5), grid_point=f"/{Path(root).parent.name}")
        trials.append(trial)
    return trials


def _sensitivity_trials(rng: np.random.Generator) -> list[SyntheticTrial]:
    """cdc/ours on cifar10 over epsilon in {0.05, 0.1, 0.2} x alpha in {1, 2} x two seeds."""
    trials = []
    for epsilon, alpha, seed in itertools.product([0.05, 0.1, 0.2], [1.0, 2.0], range(2)):
        params = {"method.name": "cdc", "dataset.name": "cifar10", "init.alpha": alpha, "init.k": 10,
                  "selection.epsilon": epsilon, **ARMS["ours"]}
        history = random_history(rng, 0.9 - epsilon / 4)
        trials.append(SyntheticTrial(params, "ours", seed, history, grid_point=f"/eps{epsilon}/alpha{alpha}"))
    return trials


def _resumed_trials(rng: np.random.Generator) -> list[SyntheticTrial]:
    """Seed 0 failed once and finished on retry (same trial key, two runs); seed 1 is still running."""
    params = {"method.name": "scan", "dataset.name": "cifar10"}
    return [
        SyntheticTrial(params, "baseline", 0, random_history(rng, 0.5), failed="worker lost"),
        SyntheticTrial(params, "baseline", 0, random_history(rng, 0.8)),
        SyntheticTrial(params, "baseline", 1, random_history(rng, 0.8), running=True),
    ]


@pytest.fixture(scope="session")
def synthetic_store(tmp_path_factory: pytest.TempPathFactory) -> SyntheticStore:
    """A workdir whose ``mlflow.db`` holds the sweeps ``ablation``, ``sensitivity``, ``allfailed``, ``resumed``,
    ``convergence`` and ``nonimage``."""
    workdir = tmp_path_factory.mktemp("workdir")
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    rng = np.random.default_rng(0)
    ablation = _ablation_trials(rng)
    spec = {"name": "ablation", "seeds": list(range(5)), "grid": {"method.name": ["scan", "cdc"]},
            "arms": {arm: ARMS[arm] for arm in SPEC_ARM_ORDER},
            "report": {"rows": ["method.name", "arm"], "columns": ["dataset.name"], "paper_table": "table3"}}
    parent = write_sweep(client, "ablation", ablation, spec, workdir)
    sensitivity = _sensitivity_trials(rng)
    write_sweep(client, "sensitivity", sensitivity, {"name": "sensitivity", "seeds": [0, 1]}, workdir)
    failing = [SyntheticTrial({"method.name": "scan", "dataset.name": "cifar10"}, "baseline", s, failed="boom")
               for s in range(2)]
    write_sweep(client, "allfailed", failing, {"name": "allfailed", "seeds": [0, 1]}, workdir)
    resumed = _resumed_trials(rng)
    write_sweep(client, "resumed", resumed, {"name": "resumed", "seeds": [0, 1]}, workdir)
    convergence = _convergence_trials()
    write_sweep(client, "convergence", convergence, {"name": "convergence", "seeds": [0, 1, 2],
                                                     "report": {"rows": ["arm"], "baseline_arm": "flat"}}, workdir)
    nonimage_spec = {"name": "nonimage", "seeds": [0, 1, 2], "grid": {"dataset.root": NONIMAGE_ROOTS},
                     "report": {"rows": ["arm"], "columns": ["dataset.root"], "paper_table": "table12"}}
    write_sweep(client, "nonimage", _nonimage_trials(rng), nonimage_spec, workdir)
    return SyntheticStore(workdir, uri, ablation, sensitivity, parent, resumed)


@pytest.fixture(scope="session")
def loaded(synthetic_store: SyntheticStore) -> Callable[..., SweepRuns]:
    """``loaded(sweep, epoch)``: ``load_sweep`` on the synthetic store, each sweep and epoch read once per session."""
    return cache(lambda sweep, epoch="last": load_sweep(sweep, synthetic_store.tracking_uri, epoch))
