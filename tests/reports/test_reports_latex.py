"""The LaTeX tables: a strict parse, one cell per column, math-mode symbols, and every shipped shape compiled
with pdflatex in a two-column article without an overfull line (skipped where pdflatex is not installed)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import pytest

from reports.comparison import comparison_table
from reports.render import TextTable, latex_escape, to_latex
from reports.schema import ReportSpec
from reports.significance import paired_tests, significance_table
from reports.tables import main_table, summarize


@pytest.fixture(scope="module")
def table_shapes(loaded, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[TextTable, str]]:
    """Every table shape a report writes, with the layout ``build_report`` gives it."""
    from orchestrator.sweep_spec import load_spec

    quickstart_metrics = load_spec("quickstart", tmp_path_factory.mktemp("quickstart")).report.metrics
    runs = loaded("ablation")
    summary = summarize(runs, ReportSpec(**runs.spec["report"]))
    one_dataset = dataclasses.replace(runs, trials=runs.trials[runs.trials["dataset.name"] == "cifar10"])
    quickstart = summarize(one_dataset, ReportSpec(metrics=quickstart_metrics))
    nonimage = loaded("nonimage")
    nonimage_summary = summarize(nonimage, ReportSpec(**nonimage.spec["report"]))
    convergence = loaded("convergence")
    return {
        "quickstart": (main_table(quickstart), "column"),
        "main": (main_table(summary), "column"),
        "main_page": (main_table(summary), "page"),
        "significance": (significance_table(paired_tests(runs.finished, summary, "baseline"), summary, "baseline"),
                         "page"),
        "paper": (comparison_table(summary), "page"),
        "grid_over_paths": (main_table(nonimage_summary), "column"),
        "grid_over_paths_paper": (comparison_table(nonimage_summary), "page"),
        "not_converged": (main_table(summarize(convergence, ReportSpec(**convergence.spec["report"]))), "column"),
    }


def _unescaped(text: str, char: str) -> int:
    return len(re.findall(rf"(?<!\\){re.escape(char)}", text))


def test_latex_parses_strictly(table_shapes):
    latexwalker = pytest.importorskip("pylatexenc.latexwalker")
    for table, layout in table_shapes.values():
        latex = to_latex(table, layout)
        nodes, _, _ = latexwalker.LatexWalker(latex, tolerant_parsing=False).get_latex_nodes()
        float_node = next(n for n in nodes if n.isNodeType(latexwalker.LatexEnvironmentNode))
        assert float_node.environmentname == ("table*" if layout == "page" else "table")
        tabulars = [n for n in float_node.nodelist if n.isNodeType(latexwalker.LatexGroupNode)]
        assert [e.environmentname for g in tabulars for e in g.nodelist
                if e.isNodeType(latexwalker.LatexEnvironmentNode)] == ["tabular"]


def test_every_row_has_one_cell_per_column_and_braces_balance(table_shapes):
    for table, layout in table_shapes.values():
        latex = to_latex(table, layout)
        spec = re.search(r"\\begin\{tabular\}\{([lr]+)\}", latex).group(1)
        assert len(spec) == len(table.index_names) + len(table.groups) * len(table.subcolumns)
        body = latex.split("\\midrule\n", 1)[1].split("\\bottomrule", 1)[0].replace("\\midrule\n", "")
        rows = [r for r in body.split("\\\\\n") if r.strip()]
        assert len(rows) == len(table.index)
        assert all(_unescaped(row, "&") == len(spec) - 1 for row in rows)
        assert _unescaped(latex, "{") == _unescaped(latex, "}")
        assert _unescaped(latex, "$") % 2 == 0
        assert latex.count("\\toprule") == latex.count("\\bottomrule") == 1
        assert latex.count("\\midrule") == 1 + len(table.breaks)


def test_label_math_symbols_and_quotes(table_shapes):
    main, _ = table_shapes["main"]
    assert "\\label{tab:ablation}" in to_latex(main)
    significance = to_latex(*table_shapes["significance"])
    assert "\\label{tab:ablation-significance}" in significance
    assert "n $\\geq$ 3" in significance and "p $<$ 0.05" in significance
    assert "``baseline''" in significance
    text = "\n".join(line for line in significance.splitlines() if not line.startswith("\\resizebox"))
    assert not re.search(r'(?<!\$)[<>≥≤±‘’“”"]', text.replace("``baseline''", ""))


def test_best_cells_are_bold(table_shapes):
    table, layout = table_shapes["main"]
    assert to_latex(table, layout).count("\\textbf{") == sum(map(sum, table.bold)) > 0


def test_group_header_spans_its_metrics(table_shapes):
    table, layout = table_shapes["main"]
    latex = to_latex(table, layout)
    assert latex.count(f"\\multicolumn{{{len(table.subcolumns)}}}{{c}}") == len(table.groups) == 2
    assert "{CIFAR-10}" in latex and "{STL-10}" in latex
    assert "\\cmidrule(lr){3-5} \\cmidrule(lr){6-8}" in latex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (apt: texlive-latex-base)")
def test_every_table_shape_compiles_in_a_two_column_article_without_overflow(table_shapes, tmp_path):
    body = "\n".join(to_latex(table, layout) + "Text of the paper. " * 60 + "\n\n"
                     for table, layout in table_shapes.values())
    document = (
        "\\documentclass[twocolumn]{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs,graphicx}\n"
        f"\\begin{{document}}\n{body}\\end{{document}}\n"
    )
    (tmp_path / "paper.tex").write_text(document)
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert result.returncode == 0, log[-3000:]
    assert "Overfull \\hbox" not in log
    assert "Missing character" not in log and "Undefined control sequence" not in log
    assert (tmp_path / "paper.pdf").stat().st_size > 0


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a_b & 50%", r"a\_b \& 50\%"),
        ("1 ± 2 (3)†§", r"1$\,\pm\,$2 (3)$^{\dagger}$$^{\S}$"),
        ("{x}#~", r"\{x\}\#\textasciitilde{}"),
        ("p < 0.05, n ≥ 3, “baseline”", r"p $<$ 0.05, n $\geq$ 3, ``baseline''"),
    ],
)
def test_latex_escape(text, escaped):
    assert latex_escape(text) == escaped
