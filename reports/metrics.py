"""What the reports know about each logged metric: display label, unit and which direction is better."""

from __future__ import annotations

from trainables.metric_names import SELECTOR_KEYS

FRACTION_METRICS = frozenset(
    {
        "acc",
        "nmi",
        "ari",
        "acc_high",
        "acc_mid",
        "acc_low",
        "ece",
        "pruned_frac",
        "pruned_acc",
        "mean_pruned_frac",
        "reinclusion_frac",
        "kmeans_acc",
        "kmeans_nmi",
        "kmeans_ari",
    }
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

UNRANKED = frozenset({"pruned_frac", "mean_pruned_frac", "reinclusion_frac", "pruned_acc", *SELECTOR_KEYS})
"""Descriptions of what a trial did, with no better direction: never bolded as best."""


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
    "reinclusion_frac": "re-included",
    "kmeans_acc": "K-means ACC",
    "kmeans_nmi": "K-means NMI",
    "kmeans_ari": "K-means ARI",
    "mean_abs_d2s": "mean |D2 S|",
    "mean_abs_d2l": "mean |D2 L|",
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


def is_ranked(metric: str) -> bool:
    """Whether a column of ``metric`` has a best value worth marking (ACC yes, pruned fraction no)."""
    return metric not in UNRANKED
