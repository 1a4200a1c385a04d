"""The LaTeX tables parse as a booktabs table fragment, with one cell per column in every row."""

from __future__ import annotations

import re

import pytest

from reports.comparison import comparison_table
from reports.render import TextTable, latex_escape, to_latex
from reports.schema import ReportSpec
from reports.significance import paired_tests, significance_table
from reports.tables import main_table, summarize


@pytest.fixture(scope="module")
def latex_tables(loaded) -> list[tuple[TextTable, str]]:
    runs = loaded("ablation")
    summary = summarize(runs, ReportSpec(**runs.spec["report"]))
    tables = [
        main_table(summary),
        significance_table(paired_tests(runs.finished, summary, "baseline"), summary, "baseline"),
        comparison_table(summary),
    ]
    return [(table, to_latex(table)) for table in tables]


def _unescaped(text: str, char: str) -> int:
    return len(re.findall(rf"(?<!\\){re.escape(char)}", text))


def test_latex_parses_strictly(latex_tables):
    latexwalker = pytest.importorskip("pylatexenc.latexwalker")
    for _, latex in latex_tables:
        nodes, _, _ = latexwalker.LatexWalker(latex, tolerant_parsing=False).get_latex_nodes()
        table = next(n for n in nodes if n.isNodeType(latexwalker.LatexEnvironmentNode))
        assert table.environmentname == "table"
        inner = [n for n in table.nodelist if n.isNodeType(latexwalker.LatexEnvironmentNode)]
        assert [n.environmentname for n in inner] == ["tabular"]


def test_every_row_has_one_cell_per_column_and_braces_balance(latex_tables):
    for table, latex in latex_tables:
        spec = re.search(r"\\begin\{tabular\}\{([lr]+)\}", latex).group(1)
        assert len(spec) == len(table.index_names) + len(table.groups) * len(table.subcolumns)
        body = latex.split("\\midrule\n", 1)[1].split("\\bottomrule", 1)[0]
        rows = [r for r in body.split("\\\\\n") if r.strip()]
        assert len(rows) == len(table.index)
        assert all(_unescaped(row, "&") == len(spec) - 1 for row in rows)
        assert _unescaped(latex, "{") == _unescaped(latex, "}")
        assert _unescaped(latex, "$") % 2 == 0
        for command in ("\\toprule", "\\midrule", "\\bottomrule"):
            assert latex.count(command) == 1


def test_best_cells_are_bold(latex_tables):
    table, latex = latex_tables[0]
    assert latex.count("\\textbf{") == sum(map(sum, table.bold)) > 0


def test_group_header_spans_its_metrics(latex_tables):
    table, latex = latex_tables[0]
    assert latex.count(f"\\multicolumn{{{len(table.subcolumns)}}}{{c}}") == len(table.groups) == 2
    assert "\\cmidrule(lr){3-5} \\cmidrule(lr){6-8}" in latex


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a_b & 50%", r"a\_b \& 50\%"),
        ("1 ± 2 (3)†", r"1 $\pm$ 2 (3)$^{\dagger}$"),
        ("{x}#~", r"\{x\}\#\textasciitilde{}"),
    ],
)
def test_latex_escape(text, escaped):
    assert latex_escape(text) == escaped
