"""DSS speed-up: how long is an epoch that excludes a fraction p of the samples, next to training on everything?

On one fixed workload (default: digits, ResNet-18 with the CIFAR stem, CC, fine-tuned encoder) a forced selector
excludes a fixed random fraction p of the samples in every epoch and asks for DSS's signals. Each epoch's training
and scoring times come from the engine itself (``train_time_s``, ``score_time_s``); the median over the epochs after
a warm-up epoch is kept.

Since the "one footing" change (method.md, DSS), every sample's signals come from a no-grad, eval-mode forward of
its weak and strong views: a trained sample pays it inside the training loop on its already-made views (c_signal
per sample), an excluded one in the scoring pass, making its views included (c_score). Per-sample costs are measured
in separate runs: c_train from training on everything without signals (strategy ``none``), c_signal from the forced
selector at p = 0, c_score from a run that excludes everything. Printed per p (p = 0 is DSS before it excludes):
- vs none: epoch_time(p) / epoch_time(``none``);
- ideal (paper): (1 - p) + p * c_score / c_train, as if trained samples' signals were free;
- ideal (one footing): (1 - p) * (1 + c_signal / c_train) + p * c_score / c_train, what this design can reach;
- speed-up: epoch_time(0) / epoch_time(p), and its ideal, ideal-1f(0) / ideal-1f(p).

Views are batched tensor transforms of images decoded once (``trainables.data.views``), so making a scored
sample's two views costs little next to the model's forward; before that, per-sample PIL views bounded the speed-up
of small models (small_cnn on 8x8 digits: c_score / c_train about 0.7).

The quickstart's workload (SCAN, small_cnn on digits, batch 64, its pre-trained encoder):
    python benchmarks/dss_speedup.py --arch small_cnn --method scan --method-params '{"heads": 5}' \
        --batch-size 64 --encoder-checkpoint runs/demo/encoders/digits_small_cnn.ckpt --clock cpu

Usage:
    python benchmarks/dss_speedup.py [--arch resnet18] [--method cc] [--epochs 4] [--clock cpu] [--smoke-test]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from trainables.config import parse_trial_config
from trainables.engine import EpochEngine
from trainables.plugins.base import SampleScores, SampleSelector
from trainables.trial import assemble


class ForcedSelector(SampleSelector):
    """Excludes the same uniformly drawn ``round(fraction * N)`` samples in every epoch; asks for DSS's signals."""

    def __init__(self, num_samples: int, fraction: float, seed: int) -> None:
        super().__init__(config=None, num_samples=num_samples, seed=seed, epochs=0)  # type: ignore[arg-type]
        drawn = np.random.default_rng(seed).permutation(num_samples)[: round(fraction * num_samples)]
        self.excluded[drawn] = True

    def update(self, epoch: int, scores: SampleScores) -> None:
        """The exclusion set is fixed: nothing to update."""


def time_epochs(
    config_data: dict, fraction: float | None, epochs: int, clock: Callable[[], float]
) -> tuple[float, float, int, int]:
    """Median (train_s, score_s) per epoch after a warm-up epoch, with the trained and scored sample counts.

    ``fraction`` None keeps the config's own selector (``none``: no signals at all).
    """
    config = parse_trial_config(config_data)
    parts = assemble(config)
    if fraction is not None:
        parts.selector = ForcedSelector(len(parts.targets), fraction, config.train.seed)
    engine = EpochEngine(parts, config.train, config.method.name, clock=clock)
    rows = [engine.run_epoch(epoch, is_last=False).row for epoch in range(1, epochs + 1)]
    timed = rows[1:]
    n_scored = int(parts.selector.excluded.sum())
    return (
        statistics.median(row["train_time_s"] for row in timed),
        statistics.median(row["score_time_s"] for row in timed),
        int(timed[-1]["samples_trained"]),
        n_scored,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--method", default="cc")
    parser.add_argument("--method-params", type=json.loads, default={}, help="method.params as JSON")
    parser.add_argument("--encoder-checkpoint", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per fraction; the first is a warm-up")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.3, 0.5], help="besides p = 0")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--score-batch-size", type=int, default=1024)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU runs)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu = this process's CPU time: robust to other load on a shared CPU machine")
    parser.add_argument("--smoke-test", action="store_true",
                        help="small_cnn, 2 epochs, one fraction: only checks that the benchmark runs")
    args = parser.parse_args()
    epochs, fractions = (2, [0.5]) if args.smoke_test else (args.epochs, args.fractions)
    arch = "small_cnn" if args.smoke_test else args.arch
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    with tempfile.TemporaryDirectory(prefix="dcsweep-dss-bench-") as cache_dir:
        config_data = {
            "dataset.name": args.dataset,
            "encoder.arch": arch,
            "encoder.checkpoint": args.encoder_checkpoint,
            "method.name": args.method,
            "method.params": args.method_params,
            "train.batch_size": args.batch_size,
            "train.score_batch_size": args.score_batch_size,
            "train.device": args.device,
            "train.encoder_mode": "finetune",
            "train.epochs": epochs,
            "train.eval_every": epochs + 1,  # evaluation is timed apart and not needed here
            "cache_dir": cache_dir,
        }
        baseline, _, n_all, _ = time_epochs(config_data, None, epochs, clock)
        train_all, signal_all, _, _ = time_epochs(config_data, 0.0, epochs, clock)
        _, score_all, _, n_scored_all = time_epochs(config_data, 1.0, epochs, clock)
        train_cost, signal_cost, score_cost = baseline / n_all, signal_all / n_all, score_all / n_scored_all
        print(f"workload: {args.dataset}, {arch}, {args.method} {args.method_params}, finetune, N={n_all}, "
              f"batch {args.batch_size}, score batch {args.score_batch_size}, {args.threads} thread(s), "
              f"{args.clock} clock, median of {epochs - 1} epochs after 1 warm-up")
        print(f"per-sample cost: train {train_cost * 1e3:.3f} ms, signal of a trained sample "
              f"{signal_cost * 1e3:.3f} ms, score {score_cost * 1e3:.3f} ms; signal/train = "
              f"{signal_cost / train_cost:.3f}, score/train = {score_cost / train_cost:.3f}")

        def one_footing(fraction: float) -> float:
            return (1 - fraction) * (1 + signal_cost / train_cost) + fraction * score_cost / train_cost

        print(f"{'p':>5} {'train s':>8} {'score s':>8} {'epoch s':>8} {'vs none':>8} {'ideal':>7} {'ideal-1f':>9} "
              f"{'speed-up':>9} {'ideal':>7} {'of ideal':>9}")
        print(f"{'none':>5} {baseline:8.3f} {0.0:8.3f} {baseline:8.3f} {1.0:8.3f} {1.0:7.3f} {1.0:9.3f}")
        epoch_all = train_all + signal_all
        for fraction in [0.0, *fractions]:
            train_s, score_s = (train_all, signal_all) if fraction == 0 else time_epochs(
                config_data, fraction, epochs, clock)[:2]
            epoch_s = train_s + score_s
            ideal = (1 - fraction) + fraction * score_cost / train_cost
            speed_up, ideal_speed_up = epoch_all / epoch_s, one_footing(0.0) / one_footing(fraction)
            print(f"{fraction:5.2f} {train_s:8.3f} {score_s:8.3f} {epoch_s:8.3f} {epoch_s / baseline:8.3f} "
                  f"{ideal:7.3f} {one_footing(fraction):9.3f} {speed_up:8.2f}x {ideal_speed_up:6.2f}x "
                  f"{speed_up / ideal_speed_up:9.1%}")


if __name__ == "__main__":
    main()
