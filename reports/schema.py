"""The ``report`` section of a sweep spec: how a sweep's runs become a table."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ReportSpec(BaseModel):
    """Rows and columns are run attributes: ``arm``, ``seed`` or a flattened param such as ``method.name``.

    Example:
        rows: [method.name, arm]
        columns: [dataset.name]
        metrics: [acc, nmi, ari]
        paper_table: table3
        latex: page      # a table* across a two-column page; default column
    """

    model_config = ConfigDict(extra="forbid")

    rows: list[str] = Field(default_factory=lambda: ["method.name", "arm"])
    columns: list[str] = Field(default_factory=lambda: ["dataset.name"])
    metrics: list[str] = Field(default_factory=lambda: ["acc", "nmi", "ari"])
    epoch: Literal["last", "best", "early_stop"] = "last"
    paper_table: str | None = None
    baseline_arm: str = "baseline"
    latex: Literal["column", "page"] = "column"
    """LaTeX layout: a one-column ``table`` or a ``table*`` across the page; both shrink a tabular that is too wide."""
