"""GPU checks in one table: a CUDA trial of each method, faiss kNN and K-means on the GPU against the CPU, four
trials sharing one GPU (``resources.gpu: 0.25``) through ``dcsweep run``, and the DSS speed-up on ResNet-18.

Each check is one row (ok / FAIL / skipped, with what was measured); a failing check does not stop the others,
and the exit code is 1 if any failed. Without ``--smoke`` the script needs a CUDA GPU and takes a few minutes.

Usage:
    python benchmarks/gpu_check.py            # on a GPU machine
    python benchmarks/gpu_check.py --smoke    # CPU only, toy sizes: the GPU-only rows say they were skipped
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

# MLflow, scikit-learn and the trial side are imported by the checks that use them, so that the no-GPU refusal
# answers in the time torch takes to import.

KNN_K = 10
DISTANCE_RTOL = 1e-4  # float32 GPU and CPU sums of squares may differ in the last bits
MIN_NEIGHBOUR_AGREEMENT = 0.999  # ties in distance may be broken differently
MIN_KMEANS_ARI = 0.99
KMEANS_OBJECTIVE_RTOL = 1e-3
SHARED_TRIALS = 4
SHARED_FRACTION = 0.25
SHARED_TITLE = f"{SHARED_TRIALS} trials at gpu: {SHARED_FRACTION} via dcsweep run"
DSS_FRACTION = 0.5
SHARED_SPEC = """\
name: gpu_share
base:
  dataset: {{name: digits}}
  encoder: {{arch: {arch}}}
  method: {{name: scan}}
  train: {{epochs: {epochs}, device: {device}}}
seeds: {seeds}
resources: {{cpu: 1, gpu: {gpu}, max_concurrent: {trials}}}
"""


@dataclass(frozen=True)
class Row:
    check: str
    status: str  # "ok", "FAIL" or "skipped"
    detail: str


@dataclass(frozen=True)
class Setup:
    """What one run of the script uses: the device, the encoder, the epochs and the scratch folder."""

    device: str
    arch: str
    epochs: int
    scratch: Path

    @property
    def gpu(self) -> bool:
        return self.device == "cuda"


def method_trials(setup: Setup) -> list[Row]:
    """One trial of each registered method on ``setup.device``: it must reach its last epoch with a finite loss."""
    from trainables.methods import METHODS
    from trainables.trial import run_trial

    rows = []
    for name in METHODS:
        if setup.gpu:
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        result = run_trial({
            "dataset.name": "digits", "encoder.arch": setup.arch, "method.name": name, "train.epochs": setup.epochs,
            "train.device": setup.device, "cache_dir": str(setup.scratch / "cache"),
        })
        seconds = time.perf_counter() - started
        memory = f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if setup.gpu else ""
        finished = result.stop_epoch == setup.epochs and np.isfinite(result.metrics["loss"])
        rows.append(Row(
            f"{name} trial, {setup.arch}, {setup.epochs} epochs on {setup.device}", "ok" if finished else "FAIL",
            f"acc {result.metrics['acc']:.3f}, loss {result.metrics['loss']:.3f}, {seconds:.1f} s{memory}",
        ))
    return rows


def blobs(n: int, dim: int, centres: int, seed: int) -> np.ndarray:
    """[n, dim] float32 points around ``centres`` well-separated Gaussian centres."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=10.0, size=(centres, dim))
    return (means[rng.integers(centres, size=n)] + rng.normal(size=(n, dim))).astype(np.float32)


def faiss_knn_gpu_vs_cpu(setup: Setup) -> Row:
    """dcsweep's ``knn`` (on the GPU when faiss sees one) against an exact CPU faiss index, same points."""
    import faiss

    from trainables.neighbours import knn

    points = blobs(20_000, 64, 20, seed=0)
    cpu = faiss.IndexFlatL2(points.shape[1])
    cpu.add(points)
    squared, expected = cpu.search(points, KNN_K + 1)  # the first hit is the point itself
    started = time.perf_counter()
    distances, indices = knn(points, KNN_K)
    seconds = time.perf_counter() - started
    reference = np.sqrt(np.maximum(squared[:, 1:], 0.0))
    error = float(np.max(np.abs(distances - reference)) / np.max(reference))
    agreement = float(np.mean([len(set(a) & set(b)) / KNN_K for a, b in zip(indices, expected[:, 1:])]))
    where = f"{faiss.get_num_gpus()} GPU(s)" if faiss.get_num_gpus() else "CPU (faiss sees no GPU)"
    on_gpu_when_asked = faiss.get_num_gpus() > 0 or not setup.gpu
    ok = error <= DISTANCE_RTOL and agreement >= MIN_NEIGHBOUR_AGREEMENT and on_gpu_when_asked
    return Row(
        f"faiss kNN (N=20000, D=64, k={KNN_K}) on {where} vs CPU", "ok" if ok else "FAIL",
        f"max relative distance error {error:.1e}, neighbour agreement {agreement:.4f}, {seconds:.2f} s",
    )


def faiss_kmeans_gpu_vs_cpu(setup: Setup) -> Row:
    """faiss K-means on the GPU and on the CPU from the same initial centres: same partition, same objective."""
    import faiss
    from sklearn.metrics import adjusted_rand_score

    points = blobs(20_000, 64, 20, seed=1)
    initial = points[np.random.default_rng(1).choice(len(points), 20, replace=False)]
    results = {}
    for device, on_gpu in (("cpu", False), ("gpu", True)):
        model = faiss.Kmeans(points.shape[1], 20, niter=20, seed=0, gpu=on_gpu)
        started = time.perf_counter()
        model.train(points, init_centroids=initial)
        _, labels = model.index.search(points, 1)
        results[device] = (labels.ravel(), float(model.obj[-1]), time.perf_counter() - started)
    (cpu_labels, cpu_objective, cpu_s), (gpu_labels, gpu_objective, gpu_s) = results["cpu"], results["gpu"]
    ari = adjusted_rand_score(cpu_labels, gpu_labels)
    gap = abs(gpu_objective - cpu_objective) / cpu_objective
    ok = ari >= MIN_KMEANS_ARI and gap <= KMEANS_OBJECTIVE_RTOL
    return Row(
        "faiss K-means (N=20000, D=64, K=20) GPU vs CPU", "ok" if ok else "FAIL",
        f"ARI {ari:.4f}, objective gap {gap:.1e}, GPU {gpu_s:.2f} s vs CPU {cpu_s:.2f} s",
    )


def trials_sharing_one_gpu(setup: Setup) -> Row:
    """``dcsweep run`` of 4 trials at ``gpu: 0.25``: all finish, and how many ran at once on the one GPU."""
    from mlflow.tracking import MlflowClient

    workdir = setup.scratch / "shared-gpu"
    workdir.mkdir()
    spec = workdir / "gpu_share.yaml"
    spec.write_text(SHARED_SPEC.format(
        arch=setup.arch, epochs=setup.epochs, device=setup.device, seeds=list(range(SHARED_TRIALS)),
        gpu=SHARED_FRACTION, trials=SHARED_TRIALS,
    ))
    command = [sys.executable, "-c", "from orchestrator.cli import main; main()", "run", str(spec),
               "--workdir", str(workdir)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": "0"})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        return Row(SHARED_TITLE, "FAIL", (done.stdout + done.stderr).strip()[-300:])
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("dcsweep/gpu_share")
    runs = client.search_runs([experiment.experiment_id], "tags.`dcsweep.role` = 'trial'")
    finished = sum(run.info.status == "FINISHED" for run in runs)
    overlap = peak_overlap([(run.info.start_time, run.info.end_time) for run in runs])
    return Row(
        SHARED_TITLE, "ok" if finished == SHARED_TRIALS else "FAIL",
        f"{finished}/{SHARED_TRIALS} FINISHED, up to {overlap} at once on 1 GPU, {seconds:.0f} s in all",
    )


def peak_overlap(intervals: list[tuple[int, int]]) -> int:
    """The largest number of [start, end] intervals that contain one moment."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])  # ends sort first
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


def dss_speedup(setup: Setup) -> Row:
    """Epoch time with DSS excluding half the samples against training on all, as ``benchmarks/dss_speedup.py``."""
    from dss_speedup import time_epochs

    epochs = setup.epochs + 2  # the first epoch is a warm-up; the median of the rest is kept
    config = {
        "dataset.name": "digits", "encoder.arch": setup.arch, "method.name": "cc", "train.batch_size": 256,
        "train.score_batch_size": 1024, "train.device": setup.device, "train.encoder_mode": "finetune",
        "train.epochs": epochs, "cache_dir": str(setup.scratch / "cache"),
    }
    full_train, _, n_all, _ = time_epochs(config, 0.0, epochs, time.perf_counter)
    _, score_all, _, n_scored = time_epochs(config, 1.0, epochs, time.perf_counter)
    train_s, score_s, _, _ = time_epochs(config, DSS_FRACTION, epochs, time.perf_counter)
    measured = (train_s + score_s) / full_train
    ideal = (1 - DSS_FRACTION) + DSS_FRACTION * (score_all / n_scored) / (full_train / n_all)
    return Row(
        f"DSS speed-up, {setup.arch} + CC on {setup.device}, p={DSS_FRACTION}", "ok",
        f"{1 / measured:.2f}x measured, {1 / ideal:.2f}x ideal (epoch {train_s + score_s:.2f} s vs {full_train:.2f} s)",
    )


def run_check(title: str, check: Callable[[Setup], Row | list[Row]], setup: Setup) -> list[Row]:
    """Run one check; an exception becomes a FAIL row naming it, so the other checks still run."""
    try:
        rows = check(setup)
    except Exception as error:  # noqa: BLE001 (a report of every check is the point of this script)
        last = traceback.extract_tb(error.__traceback__)[-1]
        return [Row(title, "FAIL", f"{type(error).__name__}: {error} ({Path(last.filename).name}:{last.lineno})")]
    return rows if isinstance(rows, list) else [rows]


# (title, check, needs a GPU)
CHECKS = (
    ("a trial of each method", method_trials, False),
    ("faiss kNN GPU vs CPU", faiss_knn_gpu_vs_cpu, False),
    ("faiss K-means GPU vs CPU", faiss_kmeans_gpu_vs_cpu, True),
    (SHARED_TITLE, trials_sharing_one_gpu, True),
    ("DSS speed-up", dss_speedup, False),
)


def print_table(rows: list[Row]) -> None:
    width = max(len(row.check) for row in rows)
    print(f"{'check':<{width}}  {'status':<7}  detail")
    for row in rows:
        print(f"{row.check:<{width}}  {row.status:<7}  {row.detail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CPU only, small_cnn, 1 epoch; GPU-only checks skipped")
    args = parser.parse_args()
    if not args.smoke and not torch.cuda.is_available():
        print("error: no CUDA GPU is visible; run on a GPU machine, or pass --smoke for the CPU-only checks",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="dcsweep-gpu-check-") as scratch:
        setup = Setup(*(("cpu", "small_cnn", 1) if args.smoke else ("cuda", "resnet18", 2)), scratch=Path(scratch))
        rows = []
        for title, check, needs_gpu in CHECKS:
            if needs_gpu and not setup.gpu:
                rows.append(Row(title, "skipped", "needs a GPU (--smoke runs on the CPU)"))
            else:
                rows.extend(run_check(title, check, setup))
    print_table(rows)
    return 1 if any(row.status == "FAIL" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
