"""What the reports know about each logged metric: display label, unit and which direction is better."""

from __future__ import annotations

FRACTION_METRICS = frozenset(
    {"acc", "nmi", "ari", "acc_high", "acc_mid", "acc_low", "ece", "pruned_frac", "pruned_acc", "mean_pruned_frac"}
)
"""Logged as fractions in [0, 1]; every table and figure shows them in percent."""

LOWER_IS_BETTER = frozenset(
    {
        "ece",
        "loss",
        "train_time_s",
        "score_time_s",
        "eval_time_s",
        "total_train_time_s",
        "samples_trained",
        "stop_epoch",
    }
)

SUMMARY_METRICS = frozenset({"stop_epoch", "total_train_time_s"})
"""Logged once at the end of a trial, not per epoch."""

_LABELS = {
    "acc": "ACC",
    "nmi": "NMI",
    "ari": "ARI",
    "acc_high": "ACC high",
    "acc_mid": "ACC mid",
    "acc_low": "ACC low",
    "ece": "ECE",
    "pruned_frac": "pruned",
    "mean_pruned_frac": "avg pruned",
    "pruned_acc": "pruned ACC",
    "mean_abs_d2s": "mean |D2 S|",
    "train_time_s": "train time (s)",
    "total_train_time_s": "total train time (s)",
    "stop_epoch": "stop epoch",
}


def metric_label(metric: str) -> str:
    """Short human label of a metric, e.g. ``acc`` -> ``ACC``; unknown names are returned as they are."""
    return _LABELS.get(metric, metric)


def to_display(metric: str, value: float) -> float:
    """The value as shown in tables and figures: fractions become percent, others are unchanged."""
    return value * 100.0 if metric in FRACTION_METRICS else value


def higher_is_better(metric: str) -> bool:
    """Whether the best value of ``metric`` in a column is its maximum."""
    return metric not in LOWER_IS_BETTER
