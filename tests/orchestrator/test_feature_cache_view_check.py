"""The sweep-start prefill caches features once per (dataset, encoder weights), runs the view sanity check once per
(dataset, encoder config) and warns in one line per failing view; the features are cached either way (the trials of
a failing dataset still run)."""

from __future__ import annotations

from pathlib import Path

import pytest

import trainables.view_sanity as view_sanity
from orchestrator.feature_cache import prefill_feature_cache
from orchestrator.plan import PlannedTrial


def _trials(tmp_path: Path) -> list[PlannedTrial]:
    config = {"dataset.name": "digits", "encoder.arch": "small_cnn", "cache_dir": str(tmp_path)}
    # two seeds of one checkpoint-less encoder are two feature sets but one view check; a repeated seed is the same one
    return [PlannedTrial(f"t{i}", "baseline", seed, f"k{i}", {**config, "train.seed": seed}) for i, seed in
            enumerate((0, 0, 1))]


@pytest.mark.parametrize("threshold, warned", [(1.01, 2), (-1.0, 0)])
def test_prefill_warns_per_failing_view_and_still_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threshold: float, warned: int
) -> None:
    monkeypatch.setattr(view_sanity, "AGREEMENT_THRESHOLD", threshold)
    lines: list[str] = []
    assert prefill_feature_cache(_trials(tmp_path), warn=lines.append) == 2
    assert len(lines) == warned
    assert all("'digits'" in line and ("'weak'" in line or "'strong'" in line) for line in lines)
    assert len(list((tmp_path / "features").glob("*.npy"))) == 2
