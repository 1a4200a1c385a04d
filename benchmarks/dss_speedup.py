"""DSS speed-up: how long is an epoch that excludes a fraction p of the samples, next to training on everything?

On one fixed workload (default: digits, ResNet-18 with the CIFAR stem, CC, fine-tuned encoder) a forced selector
excludes a fixed random fraction p of the samples in every epoch and asks for DSS's signals. Each epoch's training
and scoring times come from the engine itself (``train_time_s``, ``score_time_s``); the median over the epochs after
a warm-up epoch is kept.

Since the "one footing" change (method.md, DSS), every sample's signals come from a no-grad, eval-mode forward of
its weak and strong views: a trained sample pays it inside the training loop on its already-loaded views (c_signal
per sample), an excluded one in the scoring pass, loading included (c_score). Per-sample costs are measured in
separate runs: c_train from training on everything without signals (strategy ``none``, the baseline of the ratio),
c_signal from the forced selector at p = 0, c_score from a run that excludes everything. Printed per p:
- measured: epoch_time(p) / epoch_time(``none``);
- ideal (paper): (1 - p) + p * c_score / c_train, as if trained samples' signals were free;
- ideal (one footing): (1 - p) * (1 + c_signal / c_train) + p * c_score / c_train, what this design can reach.

The ratio approaches the ideal only when the model's compute dominates the epoch: loading the two augmented
views costs the same for a scored sample as for a trained one, so with a tiny model (small_cnn on 8x8 digits) that
loading cost bounds the speed-up.

Usage:
    python benchmarks/dss_speedup.py [--arch resnet18] [--method cc] [--epochs 4] [--clock cpu] [--smoke-test]
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--encoder-checkpoint", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per fraction; the first is a warm-up")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.0, 0.3, 0.5])
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
            "train.batch_size": args.batch_size,
            "train.score_batch_size": args.score_batch_size,
            "train.device": args.device,
            "train.encoder_mode": "finetune",
            "train.epochs": epochs,
            "train.eval_every": epochs + 1,  # evaluation is timed apart and not needed here
            "cache_dir": cache_dir,
        }
        baseline, _, n_all, _ = time_epochs(config_data, None, epochs, clock)
        _, signal_all, _, _ = time_epochs(config_data, 0.0, epochs, clock)
        _, score_all, _, n_scored_all = time_epochs(config_data, 1.0, epochs, clock)
        train_cost, signal_cost, score_cost = baseline / n_all, signal_all / n_all, score_all / n_scored_all
        print(f"workload: {args.dataset}, {arch}, {args.method}, finetune, N={n_all}, batch {args.batch_size}, "
              f"score batch {args.score_batch_size}, {args.threads} thread(s), {args.clock} clock, "
              f"median of {epochs - 1} epochs after 1 warm-up")
        print(f"per-sample cost: train {train_cost * 1e3:.3f} ms, signal of a trained sample "
              f"{signal_cost * 1e3:.3f} ms, score {score_cost * 1e3:.3f} ms; signal/train = "
              f"{signal_cost / train_cost:.3f}, score/train = {score_cost / train_cost:.3f}")
        print(f"{'p':>5} {'train s':>8} {'score s':>8} {'epoch s':>8} {'measured':>9} {'ideal':>7} "
              f"{'ideal-1f':>9} {'vs 1f':>7} {'speed-up':>9}")
        print(f"{'none':>5} {baseline:8.3f} {0.0:8.3f} {baseline:8.3f} {1.0:9.3f} {1.0:7.3f} {1.0:9.3f} "
              f"{0.0:7.1%} {1.0:8.2f}x")
        for fraction in fractions:
            train_s, score_s, _, _ = time_epochs(config_data, fraction, epochs, clock)
            measured = (train_s + score_s) / baseline
            ideal = (1 - fraction) + fraction * score_cost / train_cost
            one_footing = (1 - fraction) * (1 + signal_cost / train_cost) + fraction * score_cost / train_cost
            print(f"{fraction:5.2f} {train_s:8.3f} {score_s:8.3f} {train_s + score_s:8.3f} {measured:9.3f} "
                  f"{ideal:7.3f} {one_footing:9.3f} {measured / one_footing - 1:7.1%} {1 / measured:8.2f}x")

if __name__ == "__main__":
    main()
