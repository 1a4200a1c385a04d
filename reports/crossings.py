"""How a seed under K-means lost accuracy: its final clusters that hold more than one class (needs labels).

A ``¶`` cell says that a head ended more than ``REFERENCE_MARGIN`` points under K-means on the same features; this
says how. For each such trial it reads its ``predictions.npz`` artifact (each sample's final cluster and label) and
lists every cluster in which two or more classes each make up at least ``MIN_SHARE`` of the members. A class split
between two clusters shows up in both; two clusters that share the same two classes are a partition that cuts
across classes (equal sizes, as the entropy terms ask, but not the classes), not a head that never learned.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from orchestrator.mlflow_layout import PREDICTIONS_FILE
from reports.metrics import metric_label, to_display
from reports.render import EMPTY, TextTable
from reports.runs import SweepRuns
from reports.tables import REFERENCE_MARGIN, Summary, below_reference
from trainables.metric_names import REFERENCE_METRICS
from trainables.metrics import contingency

MIN_SHARE = 0.15
"""A class counts in a cluster when it makes up at least this share of the cluster's members."""


@dataclass(frozen=True)
class MixedCluster:
    """A cluster holding several classes: its size and ``(class, members)`` of each class at ``MIN_SHARE`` or
    more of it, largest first."""

    cluster: int
    size: int
    classes: tuple[tuple[int, int], ...]

    def describe_classes(self) -> str:
        """``"8 (95), 1 (91)"``: each class with its members."""
        return ", ".join(f"{label} ({count})" for label, count in self.classes)


def mixed_clusters(predictions: np.ndarray, labels: np.ndarray, min_share: float = MIN_SHARE) -> list[MixedCluster]:
    """The clusters of [N] ``predictions`` in which two or more of the [N] ``labels`` each hold ``min_share`` of
    the members, largest cluster first."""
    mixed = []
    for cluster, counts in enumerate(contingency(labels, predictions)):
        size = int(counts.sum())
        held = [c for c in np.argsort(-counts, kind="stable") if counts[c] and counts[c] >= min_share * size]
        if len(held) > 1:
            mixed.append(MixedCluster(cluster, size, tuple((int(c), int(counts[c])) for c in held)))
    return sorted(mixed, key=lambda m: (-m.size, m.cluster))


def crossings_table(runs: SweepRuns, summary: Summary) -> TextTable | None:
    """A row per mixed cluster of each finished trial under K-means in one of the report's metrics (``None`` when
    there is no such trial); the trial's first row also holds its value against the K-means reference."""
    metrics = [m for m in summary.metrics if m in REFERENCE_METRICS]
    trials = runs.finished
    if not metrics or trials.empty:
        return None
    under = np.logical_or.reduce([below_reference(trials, m).to_numpy() for m in metrics])
    if not under.any():
        return None
    index, cells, breaks = [], [], []
    for trial in trials[under].sort_values("trial_name").itertuples():
        scores = [_versus(m, getattr(trial, m), getattr(trial, REFERENCE_METRICS[m])) for m in metrics]
        mixed = _mixed_clusters_of(runs.tracking_uri, trial.run_id)
        if mixed is None:
            rows = [(EMPTY, EMPTY, "no predictions logged")]
        elif not mixed:
            rows = [(EMPTY, EMPTY, "none: each cluster is mostly one class")]
        else:
            rows = [(str(m.cluster), str(m.size), m.describe_classes()) for m in mixed]
        breaks.append(len(index))
        for position, (cluster, size, classes) in enumerate(rows):
            index.append((trial.trial_name if position == 0 else "", cluster))
            cells.append([*(scores if position == 0 else [""] * len(scores)), size, classes])
    return TextTable(
        title=f"{summary.sweep}: seeds more than {REFERENCE_MARGIN:g} points under K-means, and their clusters "
        f"that hold several classes",
        label=f"{summary.sweep}-below-kmeans",
        index_names=["trial", "cluster"],
        index=index,
        groups=[""],
        subcolumns=[*(f"{metric_label(m)} vs K-means" for m in metrics), "members", "classes (members)"],
        cells=cells,
        bold=[[False] * len(row) for row in cells],
        notes=[
            f"Values in percent, at the report's epoch; clusters at the trial's last epoch. A class is listed in a "
            f"cluster when it makes up at least {MIN_SHARE:.0%} of the cluster's members."
        ],
        breaks=breaks[1:],
    )


def _versus(metric: str, value: float, reference: float) -> str:
    return f"{to_display(metric, value):.1f} vs {to_display(REFERENCE_METRICS[metric], reference):.1f}"


def _mixed_clusters_of(tracking_uri: str, run_id: str) -> list[MixedCluster] | None:
    """The trial's mixed clusters, from its ``PREDICTIONS_FILE`` artifact; ``None`` when it logged none."""
    with tempfile.TemporaryDirectory(prefix="dcsweep-report-") as scratch:
        try:
            path = MlflowClient(tracking_uri).download_artifacts(run_id, PREDICTIONS_FILE, scratch)
        except (MlflowException, OSError):
            return None
        with np.load(Path(path)) as saved:
            return mixed_clusters(saved["pred"], saved["labels"])
