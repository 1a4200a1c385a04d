"""The names of the metrics a trial logs: one home for the engine, the spec checks and the reports.

Plain constants, importable without torch.
"""

from __future__ import annotations

EVAL_KEYS = ("acc", "nmi", "ari", "acc_high", "acc_mid", "acc_low", "ece")
MEAN_ABS_D2S = "mean_abs_d2s"  # the DSS selector's mean |D2 S|
MEAN_ABS_D2L = "mean_abs_d2l"  # the loss selector's mean |D2 L|
SELECTOR_KEYS = (MEAN_ABS_D2S, MEAN_ABS_D2L)
"""Every selector's ``metric_keys``; each selector logs its own, NaN in the rows of the others."""

METRIC_KEYS = (
    "epoch", *EVAL_KEYS, "pruned_frac", "pruned_acc", "reinclusion_frac", *SELECTOR_KEYS,
    "loss", "train_time_s", "score_time_s", "eval_time_s", "samples_trained",
)
"""The row reported every epoch (design.md), in this order; spec metrics are checked against it."""

STOP_EPOCH = "stop_epoch"
TOTAL_TRAIN_TIME = "total_train_time_s"
REFERENCE_METRICS = {"acc": "kmeans_acc", "nmi": "kmeans_nmi", "ari": "kmeans_ari"}
"""Metric -> the same metric of K-means on the pre-trained features (the trial's reference, logged once)."""

SUMMARY_METRICS = (STOP_EPOCH, TOTAL_TRAIN_TIME, *REFERENCE_METRICS.values())
"""Logged once per trial, when it ends, not per epoch."""

LABEL_METRICS = frozenset({*EVAL_KEYS, "pruned_acc"})
"""The metrics computed from ground-truth labels: a label-free search may not optimise them."""
