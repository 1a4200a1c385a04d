"""Orchestrator overhead: N identical short trials through ``dcsweep run`` against the same trials in-process.

Three timings on the same trials (SCAN on 300 digits, the seed being the only difference):
- in-process: ``trainables.run_trial`` one after the other, torch limited to 1 thread like a 1-CPU Ray trial;
- ``dcsweep run`` with ``max_concurrent: 1`` over N/2 and over N trials (wall time of the CLI: imports, Ray start,
  MLflow, scheduling, workers);
- ``dcsweep run`` with ``max_concurrent: 2`` over N trials (two trials share the machine's cores).
The feature cache is filled before the in-process timing, and the driver fills it before each sweep.

Per-trial overhead (all costs spread over N) = (sweep wall time with 1 concurrent - in-process total) / N.
Marginal per-trial overhead = slope of the 1-concurrent wall time in N, minus one in-process trial; the fixed
start-up cost (CLI imports, Ray start, first worker) is the rest.
Throughput ratio = in-process total / sweep wall time with 2 concurrent (> 1: the sweep finishes sooner).
Time to the first trial = the first child run's MLflow start time minus the CLI's launch: the fixed start-up read
directly (CLI imports, feature cache check, MLflow database creation, Ray start, first worker), without the slope.

What the fixed cost is made of (2 quiet cores, timestamps around each phase of ``dcsweep run``), about:
- the CLI's imports and planning the trials (torch) 2.4 s;
- Ray's start 2.7-3.7 s: its helper processes keep the two cores 55-75% busy, and running the driver's feature
  check beside it gained nothing when tried;
- the feature-cache prefill with its view check, and opening the sweep in MLflow, 1.3 s;
- each trial actor's imports (torch, ray.tune, MLflow) 3 s: Tune gives trainables their own runtime_env, so every
  actor is a new process, not one of the workers Ray prestarts;
- torch._dynamo, which torch.optim imports on the first optimizer a process builds, 0.9-1.5 s in each actor's first
  trial (the in-process timing pays it in its warm-up trial);
- Ray's shutdown when the CLI exits, 1.4-1.9 s, mostly idle: Ray stops the GCS first, and then waits out its 1 s grace
  period on the autoscaler's monitor, whose SIGTERM handler tries to report to the GCS that is gone.

With ``--address auto`` the sweeps join a Ray already running on this machine (``ray start --head --num-cpus 2``)
instead of starting and stopping their own: the same figures without Ray's start and shutdown, as a user who keeps
Ray up between sweeps pays them.

Measured 2026-12-02 on a quiet 2-core box, one run each, Ray started by each sweep / standing Ray: in-process 2.0 /
2.2 s per trial; time to the first trial 11.7 / 8.6 s; fixed start-up (slope) 12.2 / 11.7 s; throughput with 2 at a
time 0.54x / 0.73x. Run to run, on this shared box, the in-process trial took 2.0-3.0 s and the first trial 11.7-17.2 s.

Usage: python benchmarks/orchestrator_overhead.py --trials 8 --epochs 20 [--address auto]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

SPEC = """\
name: overhead{concurrent}x{count}
base:
  dataset: {{name: arrays, root: "{root}"}}
  encoder: {{arch: small_cnn}}
  method: {{name: scan}}
  train: {{epochs: {epochs}, batch_size: 100, device: cpu}}
  cache_dir: "{cache}"
seeds: {seeds}
resources: {{cpu: 1, max_concurrent: {concurrent}, max_failures: 0}}
"""


def write_data(folder: Path) -> Path:
    """300 digits of classes 0-2 as an arrays-format .npz."""
    digits = load_digits()
    keep = np.isin(digits.target, [0, 1, 2])
    path = folder / "digits3.npz"
    np.savez(path, x=np.rint(digits.images[keep][:300] * (255 / 16)).astype(np.uint8), y=digits.target[keep][:300])
    return path


def in_process(root: Path, cache: Path, trials: int, epochs: int) -> float:
    """Seconds to run the trials one after the other in this process."""
    from trainables import run_trial

    torch.set_num_threads(1)
    config = {"dataset.name": "arrays", "dataset.root": str(root), "encoder.arch": "small_cnn", "method.name": "scan",
              "train.epochs": epochs, "train.batch_size": 100, "train.device": "cpu", "cache_dir": str(cache)}
    run_trial({**config, "train.seed": 0, "train.epochs": 1})  # fills the feature cache and warms imports
    start = time.perf_counter()
    for seed in range(trials):
        run_trial({**config, "train.seed": seed})
    return time.perf_counter() - start


def through_dcsweep(
    folder: Path, root: Path, cache: Path, trials: int, epochs: int, concurrent: int, address: str | None
) -> tuple[float, float]:
    """Wall seconds of ``dcsweep run`` over the trials in a fresh workdir, and seconds until its first trial started."""
    spec = folder / f"overhead{concurrent}x{trials}.yaml"
    spec.write_text(SPEC.format(
        concurrent=concurrent, count=trials, root=root, epochs=epochs, cache=cache, seeds=list(range(trials))
    ))
    dcsweep = Path(sys.executable).with_name("dcsweep")
    workdir = folder / f"work{concurrent}x{trials}"
    launched, start = time.time(), time.perf_counter()
    joining = ["--address", address] if address else []
    subprocess.run(
        [str(dcsweep), "run", str(spec), "--workdir", str(workdir), *joining], check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - start, first_trial_start(workdir) - launched


def first_trial_start(workdir: Path) -> float:
    """Epoch seconds at which the sweep's first trial run was created in MLflow."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    runs = client.search_runs(experiments, filter_string="tags.`dcsweep.role` = 'trial'")
    return min(run.info.start_time for run in runs) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--address", help="join this running Ray (e.g. auto) instead of starting one per sweep")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dcsweep-overhead-") as scratch:
        folder = Path(scratch)
        root, cache = write_data(folder), folder / "cache"
        sequential = in_process(root, cache, args.trials, args.epochs)
        half, _ = through_dcsweep(folder, root, cache, args.trials // 2, args.epochs, 1, args.address)
        serial, first_serial = through_dcsweep(folder, root, cache, args.trials, args.epochs, 1, args.address)
        parallel, first_parallel = through_dcsweep(folder, root, cache, args.trials, args.epochs, 2, args.address)
    print(f"{args.trials} trials x {args.epochs} epochs, Ray: {args.address or 'started by each sweep'}")
    print(f"in-process, sequential:        {sequential:8.1f} s  ({sequential / args.trials:.1f} s/trial)")
    slope = (serial - half) / (args.trials - args.trials // 2)
    print(f"dcsweep run, 1 concurrent, N/2: {half:7.1f} s")
    print(f"dcsweep run, 1 concurrent:     {serial:8.1f} s  ({serial / args.trials:.1f} s/trial)")
    print(f"dcsweep run, 2 concurrent:     {parallel:8.1f} s")
    print(f"per-trial overhead (all):      {(serial - sequential) / args.trials:8.1f} s")
    print(f"marginal per-trial overhead:   {slope - sequential / args.trials:8.1f} s")
    print(f"fixed start-up cost:           {serial - slope * args.trials:8.1f} s")
    print(f"time to the first trial:       {first_serial:8.1f} s (1 concurrent), {first_parallel:.1f} s (2 concurrent)")
    print(f"throughput ratio (2 conc./in-process): {sequential / parallel:.2f}")


if __name__ == "__main__":
    main()
