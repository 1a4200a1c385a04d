"""``dcsweep run`` / ``dcsweep status`` with the real trainable on 300 digits: Ray, MLflow and the feature cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_digits

from orchestrator.cli import main

pytestmark = pytest.mark.slow

SPEC = """\
name: real
base:
  dataset: {{name: arrays, root: "{root}"}}
  encoder: {{arch: small_cnn}}
  method: {{name: scan}}
  train: {{epochs: 3, batch_size: 100, device: cpu}}
arms:
  baseline: {{}}
  ours: {{init.strategy: dachi, selection.strategy: dss}}
seeds: [0]
resources: {{cpu: 1, max_concurrent: 2}}
"""


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    import ray

    yield
    ray.shutdown()


def test_run_with_the_real_trainable_then_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digits = load_digits()
    keep = np.isin(digits.target, [0, 1, 2])
    images = np.rint(digits.images[keep][:300] * (255 / 16)).astype(np.uint8)
    np.savez(tmp_path / "digits3.npz", x=images, y=digits.target[keep][:300])
    spec = tmp_path / "real.yaml"
    spec.write_text(SPEC.format(root=tmp_path / "digits3.npz"))
    workdir = tmp_path / "work"

    main(["run", str(spec), "--workdir", str(workdir)])
    assert "launched 2 trials, skipped 0 finished, 0 errored" in capsys.readouterr().out

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("dcsweep/real")
    children = client.search_runs([experiment.experiment_id], "tags.`dcsweep.role` = 'trial'")
    assert sorted(run.data.tags["dcsweep.trial_name"] for run in children) == ["scan/baseline/seed0", "scan/ours/seed0"]
    for run in children:
        assert run.info.status == "FINISHED"
        assert run.data.params["dataset.name"] == "arrays" and run.data.params["selection.strategy"] in ("none", "dss")
        for metric in ("acc", "nmi", "ari", "pruned_frac", "loss", "train_time_s"):
            assert [p.step for p in client.get_metric_history(run.info.run_id, metric)] == [1, 2, 3]
        assert 0.0 <= run.data.metrics["acc"] <= 1.0
        predictions = np.load(client.download_artifacts(run.info.run_id, "predictions.npz"))
        assert predictions["pred"].shape == (300,)
        assert {"kmeans_acc", "kmeans_nmi", "kmeans_ari"} <= set(run.data.metrics)  # the report's reference row
    assert any((workdir / "cache").rglob("*")), "the driver should have filled the feature cache"

    main(["status", "real", "--workdir", str(workdir)])
    out = capsys.readouterr().out
    assert "scan/ours/seed0" in out and "2 FINISHED" in out
