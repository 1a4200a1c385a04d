"""Loading a sweep from MLflow: metrics at the chosen epoch equal the histories written, and bad input is named."""

from __future__ import annotations

import numpy as np
import pytest

from reports.errors import ReportError
from reports.runs import load_sweep
from reports.schema import ReportSpec
from reports.tables import main_table, summarize


def _by_name(runs):
    return runs.trials.set_index("trial_name")


def test_one_row_per_trial_with_tags_status_and_params(synthetic_store, loaded):
    runs = loaded("ablation")
    assert len(runs.trials) == len(synthetic_store.ablation)
    trials = _by_name(runs)
    for trial in synthetic_store.ablation:
        row = trials.loc[trial.name]
        assert row["status"] == ("FAILED" if trial.failed else "FINISHED")
        assert (row["arm"], row["seed"]) == (trial.arm, trial.seed)
        assert row["method.name"] == trial.params["method.name"]
        assert row["init.strategy"] == trial.params["init.strategy"]
        assert row["init.alpha"] == pytest.approx(trial.params["init.alpha"])
    assert runs.parent_run_id == synthetic_store.ablation_parent
    assert runs.spec["seeds"] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("epoch", ["last", "best", "early_stop"])
def test_metrics_at_the_chosen_epoch_equal_the_history(synthetic_store, loaded, epoch):
    runs = loaded("ablation", epoch)
    trials = _by_name(runs)
    for trial in synthetic_store.ablation[:12]:
        acc = np.asarray(trial.history["acc"])
        index = {"last": len(acc) - 1, "best": int(np.argmax(acc)), "early_stop": trial.stop_epoch - 1}[epoch]
        row = trials.loc[trial.name]
        assert row["selected_epoch"] == index + 1
        for metric in ("acc", "nmi", "acc_low", "pruned_frac"):
            assert row[metric] == pytest.approx(trial.history[metric][index])
        assert row["mean_pruned_frac"] == pytest.approx(np.mean(trial.history["pruned_frac"][: index + 1]))


def test_histories_hold_every_epoch_of_every_trial(synthetic_store, loaded):
    runs = loaded("ablation")
    trial = synthetic_store.ablation[0]
    run_id = _by_name(runs).loc[trial.name, "run_id"]
    history = runs.histories[runs.histories["run_id"] == run_id].sort_values("epoch")
    np.testing.assert_allclose(history["acc"], trial.history["acc"])
    assert history["epoch"].tolist() == [1, 2, 3, 4]


def test_unknown_sweep_names_the_known_ones(synthetic_store):
    message = r"no sweep named 'nope' in .*; known sweeps: ablation, allfailed, convergence, nonimage, resumed, sensitivity"
    with pytest.raises(ReportError, match=message):
        load_sweep("nope", synthetic_store.tracking_uri)


def test_sweep_without_finished_trials_says_so_with_the_failure(synthetic_store):
    message = r"sweep 'allfailed' has no finished trials \(2 failed; first failure: .*boom\)"
    with pytest.raises(ReportError, match=message):
        load_sweep("allfailed", synthetic_store.tracking_uri)


def test_missing_database_is_refused_without_creating_one(tmp_path):
    with pytest.raises(ReportError, match="no MLflow database at"):
        load_sweep("ablation", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert not (tmp_path / "mlflow.db").exists()


def test_unknown_epoch_choice_is_refused(synthetic_store):
    with pytest.raises(ReportError, match="epoch must be one of last, best, early_stop"):
        load_sweep("ablation", synthetic_store.tracking_uri, "worst")


def test_a_retried_trial_counts_once_and_a_running_one_is_reported(synthetic_store, loaded):
    runs = loaded("resumed")
    assert sorted(runs.trials["status"]) == ["FINISHED", "RUNNING"]
    finished = runs.finished.iloc[0]
    assert finished["seed"] == 0
    assert finished["acc"] == pytest.approx(synthetic_store.resumed[1].history["acc"][-1])
    summary = summarize(runs, ReportSpec())
    acc = summary.cells[summary.cells["metric"] == "acc"].iloc[0]
    assert (acc["n"], acc["n_failed"], acc["n_unfinished"], bool(acc["short"])) == (1, 0, 1, True)
    assert "(RUNNING)" in main_table(summary).notes[-1]
