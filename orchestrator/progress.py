"""The progress table printed while a sweep runs: trial, status, epoch, acc and pruned fraction."""

from __future__ import annotations

from collections.abc import Sequence

from ray.tune import CLIReporter

METRIC_COLUMNS = {"epoch": "epoch", "acc": "acc", "pruned_frac": "pruned"}


def progress_table(searched_keys: Sequence[str] = (), every_s: float = 15.0) -> CLIReporter:
    """A CLIReporter showing the trial name (and searched values) with epoch, acc and pruned fraction."""
    parameters = {"trial/name": "trial", **{key: key for key in searched_keys}}
    return CLIReporter(
        metric_columns=METRIC_COLUMNS,
        parameter_columns=parameters,
        max_report_frequency=every_s,
        sort_by_metric=False,
        max_column_length=40,  # trial names such as cdc/+DACHI/coil20/seed2 stay whole
    )
