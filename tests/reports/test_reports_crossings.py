"""``below_kmeans.md``: the seeds under K-means and their clusters that hold several classes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.build import build_report
from reports.crossings import MIN_SHARE, mixed_clusters

METRICS = ("acc", "nmi", "ari")


def test_mixed_clusters_match_a_crosstab_of_predictions_and_labels():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 6, size=600)
    predictions = np.where(rng.random(600) < 0.7, labels, rng.integers(0, 6, size=600))  # 30% scattered
    predictions[labels == 4] = np.where(rng.random((labels == 4).sum()) < 0.5, 1, 2)  # class 4 split over 1 and 2
    table = pd.crosstab(predictions, labels)
    expected = {}
    for cluster, counts in table.iterrows():
        held = counts[counts >= MIN_SHARE * counts.sum()].sort_values(ascending=False, kind="stable")
        if len(held) > 1:
            expected[int(cluster)] = (int(counts.sum()), [(int(c), int(n)) for c, n in held.items()])
    found = mixed_clusters(predictions, labels)
    assert {m.cluster: (m.size, list(m.classes)) for m in found} == expected
    assert {1, 2} <= set(expected)  # the split class shows up in both clusters
    assert [m.size for m in found] == sorted((m.size for m in found), reverse=True)


def test_clean_clusters_are_not_mixed():
    labels = np.repeat([0, 1, 2], 50)
    assert mixed_clusters((labels + 1) % 3, labels) == []  # relabelled clusters, each one class


def test_report_lists_exactly_the_seeds_under_kmeans_with_their_mixed_clusters(synthetic_store, tmp_path):
    report = build_report("ablation", synthetic_store.tracking_uri, tmp_path)
    under = {
        t.name for t in synthetic_store.ablation
        if not t.failed and any(100 * t.history[m][-1] < 100 * t.once[f"kmeans_{m}"] - 2 for m in METRICS)
    }
    by_trial: dict[str, list[list[str]]] = {}
    for cells in _markdown_rows(tmp_path / "below_kmeans.md"):
        if cells[0]:  # a trial's later rows leave its name empty
            by_trial[cells[0]] = []
        by_trial[next(reversed(by_trial))].append(cells)
    assert set(by_trial) == under
    assert any(name.startswith("scan/stl10/") for name in under)
    assert "[below_kmeans.md](below_kmeans.md)" in report.index.read_text()
    for name, rows in by_trial.items():
        cluster_members_classes = [(r[1], r[-2], r[-1]) for r in rows]
        if name.startswith("scan/stl10/"):  # these logged CROSSING_PREDICTIONS
            assert cluster_members_classes == [("1", "40", "1 (20), 2 (20)"), ("2", "40", "1 (20), 2 (20)")]
        else:
            assert cluster_members_classes == [("–", "–", "no predictions logged")]


def _markdown_rows(path) -> list[list[str]]:
    """The body rows of the Markdown table in ``path``, as stripped cells."""
    lines = [line for line in path.read_text().splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
