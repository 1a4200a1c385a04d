"""The paper's numbers as data: cross-checked against paper_reference.md, and matched to our cells by attributes."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from reports.errors import ReportError
from reports.paper import lookup_paper_values, paper_entries, paper_tables, same_value

REFERENCE_MD = Path(__file__).resolve().parents[3] / "shared" / "spec" / "paper_reference.md"


def _markdown_rows(heading: str) -> dict[str, list[str]]:
    """The rows of the markdown table after ``heading``: first cell -> the other cells, as written."""
    text = REFERENCE_MD.read_text().split(heading, 1)[1]
    rows = {}
    for line in text.split("\n## ", 1)[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and not set("".join(cells)) <= set("-"):
            rows.setdefault(cells[0], cells[1:])
    return rows


def _numbers(cell: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", cell)]


@pytest.mark.skipif(not REFERENCE_MD.exists(), reason="paper_reference.md is not beside the checkout")
@pytest.mark.parametrize(
    ("table_id", "heading", "label", "column"),
    [
        ("table1", "## Table 1", "CDC+Ours", "ImageNet-Dogs"),
        ("table1", "## Table 1", "CC", "Tiny-ImageNet"),
        ("table3", "## Table 3", "CDC", "STL-10"),
        ("table4", "## Table 4", "Ours", "STL-10"),
        ("table8", "## Table 8", "STL-10", "alpha 4"),
        ("table12", "## Table 12", "Semeion", "SCAN+Ours"),
    ],
)
def test_yaml_values_equal_the_markdown(table_id, heading, label, column):
    header, *body = _markdown_rows(heading).items()
    columns = header[1]
    written = dict(body)[label][columns.index(column)]
    entry = next(e for e in paper_entries(table_id) if e.label == label and e.column == column)
    assert list(entry.values.values()) == pytest.approx(_numbers(written))


@pytest.mark.skipif(not REFERENCE_MD.exists(), reason="paper_reference.md is not beside the checkout")
def test_every_markdown_row_of_table1_and_3_is_in_the_yaml():
    for table_id, heading in [("table1", "## Table 1"), ("table3", "## Table 3")]:
        header, *body = _markdown_rows(heading).items()
        entries = paper_entries(table_id)
        for label, cells in body:
            for column, cell in zip(header[1], cells, strict=True):
                matching = [e for e in entries if e.label == label and e.column == column]
                assert any(list(e.values.values()) == pytest.approx(_numbers(cell)) for e in matching)
    assert len(paper_entries("table1")) == 8 * 6


def test_our_names_map_to_the_paper_rows():
    attrs = [
        {"method.name": "cdc", "arm": "ours", "dataset.name": "cifar10"},
        {"method.name": "cdc", "arm": "+DACHI", "dataset.name": "stl10"},
        {"method.name": "scan", "arm": "baseline", "dataset.name": "cifar20"},
        {"method.name": "scan", "arm": "+DSS", "dataset.name": "coil20"},
    ]
    values = lookup_paper_values("table3", attrs, ["acc", "nmi", "ari", "acc"], "last")
    assert values[:3] == [94.7, 86.6, 38.0]
    assert math.isnan(values[3])


def test_epoch_choice_and_patience_pick_the_early_stopping_row():
    cell = {"method.name": "cdc", "arm": "ours", "dataset.name": "stl10", "early_stop.patience": 30}
    assert lookup_paper_values("table11", [cell], ["stop_epoch"], "early_stop") == [98.0]
    assert lookup_paper_values("table11", [cell], ["acc"], "best") == [93.5]
    assert math.isnan(lookup_paper_values("table11", [cell], ["stop_epoch"], "last")[0])


def test_mean_std_cells_give_the_mean():
    cell = {"method.name": "scan", "arm": "ours", "dataset.name": "cifar20"}
    assert lookup_paper_values("table10", [cell], ["acc"], "last") == [55.3]


def test_unknown_table_lists_the_known_ones():
    with pytest.raises(ReportError, match="unknown report.paper_table 'table99'; use one of: table1, table2"):
        paper_entries("table99")


@pytest.mark.parametrize(("a", "b", "same"), [("+DACHI", "dachi", True), ("CIFAR-10", "cifar10", True),
                                              (0.1, "0.1", True), (0.1, 0.2, False), ("ours", "baseline", False)])
def test_same_value_ignores_case_punctuation_and_number_format(a, b, same):
    assert same_value(a, b) is same


def test_every_table_has_a_value_per_metric_in_every_cell():
    for table_id, table in paper_tables().items():
        for row in table["rows"]:
            assert set(row["values"]) <= set(table["columns"]), table_id
            assert all(len(cell) == len(table["metrics"]) for cell in row["values"].values()), table_id
