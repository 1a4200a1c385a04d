"""The report folder, its index, the MLflow artifacts and the ``dcsweep report`` command."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from mlflow import MlflowClient

from reports.build import build_report, default_out_dir
from reports.errors import ReportError


@pytest.fixture(scope="module")
def ablation_report(synthetic_store, tmp_path_factory):
    return build_report("ablation", synthetic_store.tracking_uri, tmp_path_factory.mktemp("report") / "ablation")


def test_index_links_every_file_and_every_link_exists(ablation_report):
    index = ablation_report.index.read_text()
    links = re.findall(r"\]\(([^)]+)\)", index)
    for name in ["table.md", "table.tex", "table.csv", "trials.csv", "failed_trials.csv", "significance.md",
                 "significance.csv", "paper.md", "paper.tex", "below_kmeans.md"]:
        assert name in links
    assert any(link.startswith("figures/curves_") for link in links)
    for link in links:
        assert (ablation_report.out_dir / link).is_file(), link
    assert {p.relative_to(ablation_report.out_dir).as_posix() for p in ablation_report.files} >= set(links)


def test_csv_holds_the_cells_with_paper_and_delta(ablation_report):
    table = pd.read_csv(ablation_report.out_dir / "table.csv")
    cells = ablation_report.summary.cells
    assert len(table) == len(cells)
    pd.testing.assert_series_equal(table["mean"], cells["mean"], check_names=False)
    assert table["paper"].notna().all()
    assert (table["delta"] - (table["mean"] - table["paper"])).abs().max() < 1e-9


def test_report_folder_is_logged_on_the_parent_run(synthetic_store, ablation_report):
    client = MlflowClient(tracking_uri=synthetic_store.tracking_uri)
    logged = {a.path for a in client.list_artifacts(synthetic_store.ablation_parent, "report")}
    assert {"report/index.md", "report/table.tex", "report/figures"} <= logged
    assert ablation_report.logged_to_run == synthetic_store.ablation_parent


def test_override_picks_the_best_epoch_and_says_it_is_optimistic(synthetic_store, tmp_path):
    result = build_report("sensitivity", synthetic_store.tracking_uri, tmp_path, {"epoch": "best", "metrics": ["acc"]})
    assert result.summary.epoch == "best" and result.summary.metrics == ["acc"]
    assert "optimistic" in (tmp_path / "table.md").read_text()


@pytest.mark.parametrize(
    ("override", "message"),
    [({"rows": ["method.nme"]}, "report key 'method.nme' is not a param or tag of sweep 'ablation'; use one of"),
     ({"baseline_arm": 3}, r"report.baseline_arm: .*; fix the report section")],
)
def test_bad_override_is_one_clear_sentence(synthetic_store, tmp_path, override, message):
    with pytest.raises(ReportError, match=message):
        build_report("ablation", synthetic_store.tracking_uri, tmp_path, override)


def test_cli_prints_the_table_and_exits_2_on_an_unknown_sweep(synthetic_store, capsys):
    from orchestrator.cli import main

    main(["report", "sensitivity", "--workdir", str(synthetic_store.workdir)])
    out = capsys.readouterr().out
    assert "sensitivity: mean ± std over 2 seeds" in out
    assert str(default_out_dir(synthetic_store.workdir, "sensitivity") / "index.md") in out
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "nope", "--workdir", str(synthetic_store.workdir)])
    assert exit_info.value.code == 2
    assert "error: no sweep named 'nope'" in capsys.readouterr().err
