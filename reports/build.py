"""Build a sweep's whole report folder (tables, significance, paper comparison, figures, ``index.md``) and log it."""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pydantic import ValidationError

from reports.comparison import comparison_table
from reports.crossings import crossings_table
from reports.errors import ReportError
from reports.figures import SavedFigure, draw_figures
from reports.render import TextTable, to_latex, to_markdown
from reports.runs import SweepRuns, load_sweep
from reports.selection_health import health_tables, selection_health
from reports.schema import ReportSpec
from reports.significance import paired_tests, significance_table
from reports.tables import Summary, cells_csv, main_table, summarize

ARTIFACT_PATH = "report"
FIGURES_DIR = "figures"
WIDE_LATEX = "page"
"""Layout of the significance and paper tables, which have more columns than one paper column holds."""


@dataclass(frozen=True)
class Report:
    """What ``build_report`` wrote: the folder, its ``index.md``, the main table and every file."""

    out_dir: Path
    index: Path
    table: TextTable
    summary: Summary
    files: list[Path]
    logged_to_run: str | None


def default_out_dir(workdir: Path, sweep: str) -> Path:
    """``<workdir>/reports/<sweep>``."""
    return Path(workdir) / "reports" / sweep


def build_report(
    sweep: str, tracking_uri: str, out_dir: Path, spec_override: ReportSpec | dict[str, Any] | None = None
) -> Report:
    """Write the report of ``sweep`` into ``out_dir`` and log the folder under ``report/`` of the sweep's parent run.

    ``spec_override`` replaces fields of the spec's ``report`` section (e.g. ``{"epoch": "best"}``).

    Raises:
        ReportError: unknown sweep, no finished trial, or an invalid report section.
    """
    if isinstance(spec_override, ReportSpec):
        override = spec_override.model_dump(exclude_unset=True)
    else:
        override = dict(spec_override or {})
    runs = load_sweep(sweep, tracking_uri, override.get("epoch"))
    spec = _report_spec(runs, override)
    summary = summarize(runs, spec)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = main_table(summary)
    files = _write_table(out_dir / "table", table, spec.latex)
    cells_csv(summary).to_csv(out_dir / "table.csv", index=False)
    trial_columns = [c for c in runs.trials.columns if c != "run_id"]
    runs.trials[["run_id", *trial_columns]].to_csv(out_dir / "trials.csv", index=False)
    files += [out_dir / "table.csv", out_dir / "trials.csv"]
    if len(summary.unfinished):
        summary.unfinished.to_csv(out_dir / "failed_trials.csv", index=False)
        files.append(out_dir / "failed_trials.csv")
    tests = paired_tests(runs.finished, summary, spec.baseline_arm)
    significance = significance_table(tests, summary, spec.baseline_arm) if len(tests) else None
    if significance is not None:
        files += _write_table(out_dir / "significance", significance, WIDE_LATEX)
        tests.to_csv(out_dir / "significance.csv", index=False)
        files.append(out_dir / "significance.csv")
    comparison = comparison_table(summary)
    if comparison is not None:
        files += _write_table(out_dir / "paper", comparison, WIDE_LATEX)
    health_cells = selection_health(runs, summary)
    health = health_tables(health_cells, summary)
    if health:
        files += _write_tables(out_dir / "selection", health)
        health_cells.to_csv(out_dir / "selection.csv", index=False)
        files.append(out_dir / "selection.csv")
    crossings = crossings_table(runs, summary)
    if crossings is not None:  # a diagnostic, not a paper table: Markdown only (it can run longer than a page)
        (out_dir / "below_kmeans.md").write_text(to_markdown(crossings))
        files.append(out_dir / "below_kmeans.md")
    shutil.rmtree(out_dir / FIGURES_DIR, ignore_errors=True)
    figures = draw_figures(runs, summary, out_dir / FIGURES_DIR, spec.baseline_arm)
    index = out_dir / "index.md"
    index.write_text(
        _index(runs, table, significance is not None, comparison is not None, crossings is not None, health, figures,
               out_dir)
    )
    files += [index, *(path for f in figures for path in (f.path, f.pdf))]
    logged = _log_folder(runs, out_dir)
    return Report(out_dir, index, table, summary, files, logged)


def _report_spec(runs: SweepRuns, override: dict[str, Any]) -> ReportSpec:
    """The spec's ``report`` section with ``override`` applied and the epoch actually used."""
    section = {**(runs.spec.get("report") or {}), **override, "epoch": runs.epoch}
    try:
        return ReportSpec.model_validate(section)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        message = f"report.{where}: {problem['msg']}; fix the report section of the spec or the override"
        raise ReportError(message) from None


def _write_table(stem: Path, table: TextTable, layout: str) -> list[Path]:
    """``<stem>.md`` and ``<stem>.tex`` (in LaTeX ``layout``) of ``table``."""
    return _write_tables(stem, [table], layout)


def _write_tables(stem: Path, tables: list[TextTable], layout: str = WIDE_LATEX) -> list[Path]:
    """``<stem>.md`` and ``<stem>.tex`` (in LaTeX ``layout``) holding ``tables`` one after the other."""
    markdown, latex = stem.with_suffix(".md"), stem.with_suffix(".tex")
    markdown.write_text("\n".join(to_markdown(table) for table in tables))
    latex.write_text("\n".join(to_latex(table, layout) for table in tables))
    return [markdown, latex]


def _index(
    runs: SweepRuns,
    table: TextTable,
    has_significance: bool,
    has_paper: bool,
    has_crossings: bool,
    health: list[TextTable],
    figures: list[SavedFigure],
    out_dir: Path,
) -> str:
    """``index.md``: the main table inline and a link to every file of the report."""
    counts = runs.trials["status"].value_counts()
    lines = [
        f"# Report of sweep `{runs.sweep}`",
        "",
        f"- Tracking URI: `{runs.tracking_uri}`; parent run: `{runs.parent_run_id or 'none'}`",
        f"- Trials: {len(runs.trials)} (" + ", ".join(f"{n} {s.lower()}" for s, n in counts.items()) + ")",
        f"- Epoch: `{runs.epoch}`",
        "",
        to_markdown(table),
    ]
    if health:
        lines += ["## Sample selection per epoch", "", *(to_markdown(t) for t in health)]
    lines += [
        "## Files",
        "",
        "- Main table: [table.md](table.md), [table.tex](table.tex), "
        "[table.csv](table.csv) (one row per cell and metric)",
        "- Every trial with its params and metrics at the chosen epoch: [trials.csv](trials.csv)",
    ]
    if (out_dir / "failed_trials.csv").exists():
        lines.append("- Trials that did not finish: [failed_trials.csv](failed_trials.csv)")
    if has_significance:
        lines.append(
            "- Paired tests against the baseline arm: [significance.md](significance.md), "
            "[significance.tex](significance.tex), [significance.csv](significance.csv)"
        )
    if has_paper:
        lines.append("- Side by side with the paper: [paper.md](paper.md), [paper.tex](paper.tex)")
    if has_crossings:
        lines.append(
            "- Seeds under K-means, with their clusters that hold several classes: [below_kmeans.md](below_kmeans.md)"
        )
    if health:
        lines.append(
            "- Sample selection per epoch: [selection.md](selection.md), [selection.tex](selection.tex), "
            "[selection.csv](selection.csv) (every epoch)"
        )
    if figures:
        lines += ["", "## Figures", ""]
        for figure in figures:
            relative = figure.path.relative_to(out_dir).as_posix()
            pdf = figure.pdf.relative_to(out_dir).as_posix()
            lines += [f"### {figure.title}", "", f"![{figure.title}]({relative})", "", f"PDF: [{pdf}]({pdf})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _log_folder(runs: SweepRuns, out_dir: Path) -> str | None:
    """Log ``out_dir`` under ``report/`` of the parent run; warn (the files stay on disk) if MLflow refuses."""
    if runs.parent_run_id is None:
        return None
    try:
        MlflowClient(tracking_uri=runs.tracking_uri).log_artifacts(runs.parent_run_id, str(out_dir), ARTIFACT_PATH)
    except (MlflowException, OSError) as error:
        warnings.warn(f"report written to {out_dir} but not logged to MLflow: {error}", stacklevel=2)
        return None
    return runs.parent_run_id

