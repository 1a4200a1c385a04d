"""Render a table of already formatted cells as Markdown, LaTeX (booktabs) or a rich table.

Cells hold plain text plus footnote markers from ``MARKERS``; each renderer turns the markers and the bold flag
into its own syntax, so one ``TextTable`` gives the same table in every format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rich.table import Table

EMPTY = "–"
"""The text of a cell with nothing to show."""

MARKERS = {"†": r"$^{\dagger}$", "‡": r"$^{\ddagger}$", "§": r"$^{\S}$", "¶": r"$^{\P}$"}
"""Footnote markers used in cell text, with their LaTeX form."""

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    " ± ": r"$\,\pm\,$",
    "±": r"$\pm$",
    "<": r"$<$",
    ">": r"$>$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "α": r"$\alpha$",
    "ε": r"$\varepsilon$",
    "|": r"$|$",
    "“": "``",
    "”": "''",
    "’": "'",
    "−": "-",
    "Δ": r"$\Delta$",
    "–": "--",
    **MARKERS,
}
_LATEX_PATTERN = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIALS))


@dataclass(frozen=True)
class TextTable:
    """A table with row labels, column groups (e.g. datasets) and sub-columns (e.g. metrics) per group.

    ``cells[i]`` has ``len(groups) * len(subcolumns)`` entries, group-major; ``bold`` has the same shape.
    ``label`` names the table for cross-references (LaTeX ``\\label{tab:<label>}``); ``breaks`` are the indices of
    the rows that start a new block (a rule above them in LaTeX).
    """

    title: str
    label: str
    index_names: list[str]
    index: list[tuple[str, ...]]
    groups: list[str]
    subcolumns: list[str]
    cells: list[list[str]]
    bold: list[list[bool]]
    notes: list[str] = field(default_factory=list)
    breaks: list[int] = field(default_factory=list)

    def headers(self) -> list[str]:
        """One flat header per data column: ``"<group> <subcolumn>"`` (or just the sub-column if one group)."""
        if len(self.groups) == 1 and not self.groups[0]:
            return list(self.subcolumns)
        return [f"{g} {s}".strip() for g in self.groups for s in self.subcolumns]


def latex_escape(text: str) -> str:
    """``text`` with LaTeX specials escaped and footnote markers as superscript symbols."""
    return _LATEX_PATTERN.sub(lambda m: _LATEX_SPECIALS[m.group(0)], text)


def to_markdown(table: TextTable) -> str:
    """A GitHub Markdown table with a bold title, best cells in ``**bold**`` and the notes below."""
    header = [*table.index_names, *table.headers()]
    n_index = len(table.index_names)
    rule = ["---"] * n_index + ["---:"] * (len(header) - n_index)
    lines = [f"**{table.title}**", "", _md_row(header), _md_row(rule)]
    for labels, cells, bold in zip(table.index, table.cells, table.bold, strict=True):
        shown = [f"**{c}**" if b else c for c, b in zip(cells, bold, strict=True)]
        lines.append(_md_row([*labels, *shown]))
    lines += [""] + [f"{note}  " for note in table.notes]
    return "\n".join(lines).rstrip() + "\n"


def to_latex(table: TextTable, layout: str = "column") -> str:
    """A booktabs table: grouped header with cmidrules, best cells in ``\\textbf``, a rule between blocks, the
    notes below and ``\\label{tab:<label>}``. ``layout`` (``ReportSpec.latex``): ``column`` a one-column
    ``table``, ``page`` a ``table*`` across a two-column page. Either way a tabular wider than the line is scaled
    down to ``\\linewidth`` (graphicx's ``\\resizebox``), so it never overflows; a narrower one keeps its size."""
    n_index, n_sub = len(table.index_names), len(table.subcolumns)
    grouped = not (len(table.groups) == 1 and not table.groups[0])
    environment = "table*" if layout == "page" else "table"
    lines = [
        rf"\begin{{{environment}}}[t]",
        r"\centering",
        r"\small",
        r"\setlength{\tabcolsep}{4pt}",
        rf"\caption{{{latex_escape(table.title)}}}",
        rf"\label{{tab:{latex_label(table.label)}}}",
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
        rf"\begin{{tabular}}{{{'l' * n_index}{'r' * n_sub * len(table.groups)}}}",
        r"\toprule",
    ]
    if grouped:
        spans = [rf"\multicolumn{{{n_sub}}}{{c}}{{{latex_escape(g)}}}" for g in table.groups]
        lines.append(" & ".join([""] * n_index + spans) + r" \\")
        rules = [
            rf"\cmidrule(lr){{{n_index + 1 + i * n_sub}-{n_index + (i + 1) * n_sub}}}" for i in range(len(table.groups))
        ]
        lines.append(" ".join(rules))
    subheaders = table.subcolumns * len(table.groups)
    lines.append(" & ".join(latex_escape(h) for h in [*table.index_names, *subheaders]) + r" \\")
    lines.append(r"\midrule")
    for i, (labels, cells, bold) in enumerate(zip(table.index, table.cells, table.bold, strict=True)):
        if i in table.breaks:
            lines.append(r"\midrule")
        shown = [rf"\textbf{{{latex_escape(c)}}}" if b else latex_escape(c) for c, b in zip(cells, bold, strict=True)]
        lines.append(" & ".join([*(latex_escape(x) for x in labels), *shown]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}"]
    if table.notes:
        notes = r" \\ ".join(latex_escape(n) for n in table.notes)
        lines.append(rf"\par\smallskip{{\raggedright\footnotesize {notes}\par}}")
    lines.append(rf"\end{{{environment}}}")
    return "\n".join(lines) + "\n"


def latex_label(name: str) -> str:
    """``name`` as a ``\\label`` key: letters, digits, ``-``, ``:`` and ``.`` (``paper/table3`` -> ``paper-table3``)."""
    return re.sub(r"[^A-Za-z0-9:.-]+", "-", name).strip("-")


def to_rich(table: TextTable) -> Table:
    """A rich ``Table`` for the terminal, best cells in bold, notes as the caption."""
    rich_table = Table(title=table.title, caption="\n".join(table.notes) or None, caption_justify="left")
    for name in table.index_names:
        rich_table.add_column(name)
    for header in table.headers():
        rich_table.add_column(header, justify="right")
    for labels, cells, bold in zip(table.index, table.cells, table.bold, strict=True):
        shown = [f"[bold]{_rich_escape(c)}[/bold]" if b else _rich_escape(c) for c, b in zip(cells, bold, strict=True)]
        rich_table.add_row(*(_rich_escape(x) for x in labels), *shown)
    return rich_table


def _md_row(values: list[str]) -> str:
    return "| " + " | ".join(v.replace("|", r"\|") for v in values) + " |"


def _rich_escape(text: str) -> str:
    return text.replace("[", r"\[")
