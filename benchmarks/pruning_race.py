"""Pruning race: DSS, InfoBatch, random and loss-based pruning at a matched average pruned fraction, side by side.

One workload (default: digits, the pre-trained small_cnn, CDC with prototype init), every strategy over the same
seeds in one run. Per strategy: the mean pruned fraction over all epochs, the summed training and scoring time per
trial (the engine's ``train_time_s`` and ``score_time_s``, process CPU time by default so that other load on a
shared machine does not enter), and the final ACC (mean +- std over the seeds). ``none`` is the reference.

Matching: DSS prunes what its rule finds stable, so its measured mean pruned fraction f (over the seeds) is the
target, and the others are set to it from the first seed:
- random: ratio = f * T / (T - 3), since it prunes from epoch 4 of T on;
- InfoBatch: a pilot run at r = 0.5 gives fraction f0, then r = 0.5 * f / f0 (capped at 0.95; delta stays 0.875);
- loss: the epsilon among ``--loss-epsilons`` whose pilot run comes closest to f (its signal L has another scale
  than S, so DSS's epsilon does not carry over).
Pilot runs are not part of the table.

Usage:
    python benchmarks/pruning_race.py --encoder-checkpoint runs/demo/encoders/digits_small_cnn.ckpt [--seeds 0 1 2]
    python benchmarks/pruning_race.py --dataset coil20 --set dataset.root=../shared/data/coil20 \
        --set dataset.image_size=32 --epochs 40 --encoder-checkpoint runs/demo/encoders/coil20_small_cnn.ckpt

Trials follow the quickstart's protocol (batch 64, its rates, cosine decay) unless ``--set`` says otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from trainables.config import parse_trial_config
from trainables.engine import EpochEngine
from trainables.plugins.baseline_selectors import FIRST_PRUNED_EPOCH
from trainables.trial import assemble

PROTOCOL_KEYS = ("lr_head", "lr_backbone", "lr_schedule")
"""The train keys taken from the quickstart's spec; its epochs and batch size are the defaults of ``--epochs`` and
``--batch-size``."""
PILOT_PRUNE_RATIO = 0.5
MAX_PRUNE_RATIO = 0.95


HEALTH_KEYS = ("pruned_frac", "reinclusion_frac", "pruned_acc")


def run(config_data: dict[str, Any], clock: Callable[[], float]) -> dict[str, Any]:
    """One trial through the engine: final ACC, mean pruned fraction, summed train and score seconds, the rows."""
    config = parse_trial_config(config_data)
    engine = EpochEngine(assemble(config), config.train, config.method.name, clock=clock)
    epochs = config.train.epochs
    rows = [engine.run_epoch(epoch, is_last=epoch == epochs).row for epoch in range(1, epochs + 1)]
    print(f"  trial {config.selection.strategy} seed {config.train.seed}: acc {rows[-1]['acc']:.4f}, pruned "
          f"{np.mean([row['pruned_frac'] for row in rows]):.3f}", flush=True)
    return {
        "acc": rows[-1]["acc"],
        "pruned": float(np.mean([row["pruned_frac"] for row in rows])),
        "train_s": sum(row["train_time_s"] for row in rows),
        "score_s": sum(row["score_time_s"] for row in rows),
        "rows": rows,
    }


def quickstart_train() -> dict[str, Any]:
    """The ``train`` section of search_spaces/quickstart.yaml, whose protocol converges on digits."""
    from orchestrator.sweep_spec import load_spec

    return load_spec("quickstart", Path(tempfile.gettempdir())).base["train"]


def parse_override(item: str) -> tuple[str, Any]:
    """``KEY=VALUE`` as a dotted key and its YAML-typed value."""
    key, separator, value = item.partition("=")
    if not separator:
        raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
    return key, yaml.safe_load(value)


def main() -> None:
    quickstart = quickstart_train()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--arch", default="small_cnn")
    parser.add_argument("--method", default="cdc")
    parser.add_argument("--init", default="prototype")
    parser.add_argument("--method-params", default="orth_steps=200",
                        help="comma-separated key=value overrides of method.params (numbers)")
    parser.add_argument("--encoder-checkpoint", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=quickstart["epochs"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epsilon", type=float, default=0.1, help="DSS's epsilon")
    parser.add_argument("--loss-epsilons", type=float, nargs="+", default=[0.01, 0.03, 0.1, 0.3])
    parser.add_argument("--batch-size", type=int, default=quickstart["batch_size"])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a dotted TrialConfig key for every trial (YAML value), repeatable, e.g. "
                        "--set dataset.root=../shared/data/coil20 --set dataset.image_size=32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    params = {key: float(value) if "." in value else int(value)
              for key, value in (item.split("=") for item in args.method_params.split(",") if item)}
    epochs = args.epochs

    with tempfile.TemporaryDirectory(prefix="dcsweep-race-") as cache_dir:
        base = {
            "dataset.name": args.dataset, "encoder.arch": args.arch, "encoder.checkpoint": str(args.encoder_checkpoint),
            "method.name": args.method, "method.params": params, "init.strategy": args.init,
            "train.epochs": epochs, "train.batch_size": args.batch_size, "train.device": "cpu",
            "train.eval_every": epochs, **{f"train.{key}": quickstart[key] for key in PROTOCOL_KEYS},
            "cache_dir": cache_dir,
            **dict(parse_override(item) for item in args.overrides),
        }

        def trials(selection: dict[str, Any]) -> list[dict[str, float]]:
            return [run({**base, **selection, "train.seed": seed}, clock) for seed in args.seeds]

        results = {"none": trials({"selection.strategy": "none"})}
        dss = {"selection.strategy": "dss", "selection.epsilon": args.epsilon}
        results["dss"] = trials(dss)
        target = float(np.mean([r["pruned"] for r in results["dss"]]))
        pilot = {**base, "train.seed": args.seeds[0]}

        pruning_epochs = max(epochs - FIRST_PRUNED_EPOCH + 1, 1)
        ratio = min(target * epochs / pruning_epochs, MAX_PRUNE_RATIO)
        random_selection = {"selection.strategy": "random", "selection.ratio": ratio}
        infobatch_pilot = run({**pilot, "selection.strategy": "infobatch",
                               "selection.prune_ratio": PILOT_PRUNE_RATIO}, clock)["pruned"]
        prune_ratio = min(PILOT_PRUNE_RATIO * target / infobatch_pilot, MAX_PRUNE_RATIO) if infobatch_pilot else 0.0
        infobatch = {"selection.strategy": "infobatch", "selection.prune_ratio": prune_ratio}
        loss_pilots = {eps: run({**pilot, "selection.strategy": "loss", "selection.epsilon": eps}, clock)["pruned"]
                       for eps in args.loss_epsilons}
        loss_epsilon = min(loss_pilots, key=lambda eps: abs(loss_pilots[eps] - target))
        loss = {"selection.strategy": "loss", "selection.epsilon": loss_epsilon}
        for name, selection in [("random", random_selection), ("infobatch", infobatch), ("loss", loss)]:
            results[name] = trials(selection)

    settings = {
        "none": "", "dss": f"epsilon={args.epsilon}", "random": f"ratio={ratio:.3f}",
        "infobatch": f"r={prune_ratio:.3f}, delta=0.875", "loss": f"epsilon={loss_epsilon}",
    }
    print(f"workload: {args.dataset}, {args.arch}, {args.method} ({args.init} init, {params}), {epochs} epochs, "
          f"batch {args.batch_size}, seeds {args.seeds}, {args.threads} thread(s), {args.clock} clock; "
          f"target pruned fraction (DSS) {target:.3f}")
    print(f"pilots: infobatch r=0.5 -> {infobatch_pilot:.3f}; loss epsilon -> pruned "
          + ", ".join(f"{eps}: {value:.3f}" for eps, value in loss_pilots.items()))
    reference = statistics.mean(r["train_s"] + r["score_s"] for r in results["none"])
    print(f"| {'strategy':<9} | {'setting':<22} | {'pruned':>6} | {'train s':>7} | {'score s':>7} | "
          f"{'total/none':>10} | {'ACC %':>11} |")
    print(f"|{'-' * 11}|{'-' * 24}|{'-' * 8}|{'-' * 9}|{'-' * 9}|{'-' * 12}|{'-' * 13}|")
    for name, rows in results.items():
        train_s = statistics.mean(r["train_s"] for r in rows)
        score_s = statistics.mean(r["score_s"] for r in rows)
        accs = [100 * r["acc"] for r in rows]
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"| {name:<9} | {settings[name]:<22} | {statistics.mean(r['pruned'] for r in rows):6.3f} | "
              f"{train_s:7.2f} | {score_s:7.2f} | {(train_s + score_s) / reference:10.3f} | "
              f"{statistics.mean(accs):5.1f} ± {spread:3.1f} |")
    print("DSS health per epoch (mean over seeds; NaN-free means): epoch " + " ".join(HEALTH_KEYS))
    for epoch in range(epochs):
        values = [np.nanmean([r["rows"][epoch][key] for r in results["dss"]]) if any(
            np.isfinite(r["rows"][epoch][key]) for r in results["dss"]) else np.nan for key in HEALTH_KEYS]
        print(f"  {epoch + 1:3d} " + " ".join(f"{value:.3f}" for value in values))


if __name__ == "__main__":
    main()
