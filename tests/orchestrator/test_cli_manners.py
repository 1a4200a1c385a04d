"""CLI manners: --version, `dcsweep list`, status in spec order and percent, run names that carry the dataset."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from orchestrator.cli import run_cli
from orchestrator.commands.status import status_rows
from orchestrator.mlflow_layout import default_tracking_uri
from orchestrator.plan import PlannedTrial, with_dataset_names


def test_version_prints_the_installed_distribution_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"dcsweep {metadata.version('dcsweep')}"


def _registry_names(what: str) -> list[str]:
    from trainables.data import DATASETS
    from trainables.methods import METHODS
    from trainables.plugins import INIT_STRATEGIES, SELECTION_STRATEGIES

    return {
        "methods": METHODS.names(), "datasets": DATASETS.names(),
        "strategies": [f"init.strategy: {n}" for n in INIT_STRATEGIES.names()]
        + [f"selection.strategy: {n}" for n in SELECTION_STRATEGIES.names()],
    }[what]


@pytest.mark.parametrize("what", ["methods", "datasets", "strategies"])
def test_list_prints_each_registered_name(what: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["list", what]) == 0
    assert capsys.readouterr().out.splitlines() == _registry_names(what)


def test_list_specs_prints_every_shipped_spec_file_except_fragments(capsys: pytest.CaptureFixture[str]) -> None:
    import search_spaces

    root = Path(search_spaces.__file__).parent
    expected = sorted(
        str(path.relative_to(root).with_suffix("")) for path in root.rglob("*.yaml") if not path.name.startswith("_")
    )
    assert run_cli(["list", "specs"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == expected and "quickstart" in printed


def test_list_of_an_unknown_kind_exits_2_naming_the_allowed_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["list", "nonsense"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == "error: cannot list 'nonsense'; choose one of: specs, methods, datasets, strategies"


def test_status_rows_follow_the_spec_order_in_percent() -> None:
    runs = [
        {"name": "scan/+DACHI/seed0", "status": "FINISHED", "epoch": 8, "acc": 0.8125, "pruned_frac": None, "error": None},
        {"name": "scan/search-x/seed0", "status": "RUNNING", "epoch": 2, "acc": None, "pruned_frac": 0.3, "error": None},
        {"name": "scan/baseline/seed0", "status": "FAILED", "epoch": 3, "acc": 0.5, "pruned_frac": 0.0, "error": "E"},
    ]
    rows = status_rows(runs, ["scan/baseline/seed0", "scan/+DACHI/seed0"])
    assert [row["trial"] for row in rows] == ["scan/baseline/seed0", "scan/+DACHI/seed0", "scan/search-x/seed0"]
    assert [row["acc_pct"] for row in rows] == [50.0, 81.25, None]
    assert [row["pruned_pct"] for row in rows] == [0.0, None, 30.0]


def _planned(name: str, dataset: str) -> PlannedTrial:
    return PlannedTrial(name=name, arm="ours", seed=0, key=name, config={"dataset.name": dataset, "train.seed": 0})


def test_run_names_carry_the_dataset_only_when_a_sweep_has_several() -> None:
    one = [_planned("cdc/ours/seed0", "digits"), _planned("cdc/ours/x=1/seed0", "digits")]
    assert with_dataset_names(one) == one
    several = [_planned("cdc/ours/variant=0/seed0", "digits"), _planned("cdc/ours/coil20/seed0", "coil20")]
    assert [trial.name for trial in with_dataset_names(several)] == ["cdc/ours/variant=0/digits/seed0", "cdc/ours/coil20/seed0"]


STATUS_SPEC = """\
name: st
base: {dataset: {name: digits}, method: {name: scan}, train: {epochs: 3}}
arms: {baseline: {}, +DACHI: {init.strategy: dachi}}
seeds: [0, 1]
"""


def test_status_json_lists_trials_in_spec_order_in_percent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)  # as in a fresh shell

    from orchestrator import tracking
    from orchestrator.plan import plan_trials
    from orchestrator.sweep_spec import parse_spec
    from orchestrator.yaml_io import load_yaml

    planned = plan_trials(parse_spec(load_yaml(STATUS_SPEC, source="spec"), tmp_path), tmp_path)
    context = tracking.open_sweep(default_tracking_uri(tmp_path), tmp_path / "art", "st", "h", STATUS_SPEC)
    accuracies = {}
    for index, trial in enumerate(reversed(planned)):  # logged in the reverse of the spec's order
        trial_run = tracking.TrialRun.open(context, trial.name, trial.key, trial.arm, trial.seed, {})
        accuracies[trial.name] = 0.5 + index / 16
        trial_run.log_epoch(2, {"epoch": 2, "acc": accuracies[trial.name], "pruned_frac": 0.25})
    assert run_cli(["status", "st", "--workdir", str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert "Downloading artifacts" not in captured.err  # MLflow's progress bar stays off
    rows = json.loads(captured.out)
    assert [row["trial"] for row in rows] == [trial.name for trial in planned]
    assert rows[0]["trial"].startswith("scan/baseline/")
    assert [row["acc_pct"] for row in rows] == [round(100 * accuracies[trial.name], 2) for trial in planned]
    assert {(row["epoch"], row["pruned_pct"], row["status"]) for row in rows} == {(2, 25.0, "RUNNING")}


def test_pretrain_writes_by_default_where_the_quickstart_looks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from orchestrator.sweep_spec import load_spec

    expected = Path(load_spec("quickstart", tmp_path).base["encoder"]["checkpoint"])
    code = run_cli(["pretrain", "--dataset", "digits", "--arch", "small_cnn", "--epochs", "1", "--batch-size", "256",
                "--device", "cpu", "--workdir", str(tmp_path)])
    assert code == 0 and expected.is_file() and expected.is_relative_to(tmp_path)


def test_registering_every_command_imports_no_heavy_module() -> None:
    heavy = ("torch", "ray", "mlflow", "optuna", "sklearn", "reports.build", "trainables.data")
    probe = (
        "import sys; from orchestrator.cli import _register_commands; _register_commands(); "
        f"print(','.join(name for name in {heavy!r} if name in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def _console(argv: list[str], setup: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the ``dcsweep`` console entry point on ``argv`` in a new interpreter, after the Python line ``setup``."""
    probe = f"{setup}; import sys; sys.argv = ['dcsweep', *{argv!r}]; from orchestrator.cli import console; console()"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize(("argv", "code", "stream", "text"), [
    (["--version"], 0, "stdout", "dcsweep "),
    (["validate", "no-such-spec.yaml"], 2, "stderr", "error: "),
], ids=["ok", "user-error"])
def test_the_console_script_flushes_its_output_runs_exit_handlers_and_keeps_the_exit_code(
    argv: list[str], code: int, stream: str, text: str, tmp_path: Path
) -> None:
    marker = tmp_path / "exit-handler-ran"
    done = _console(argv, f"import atexit, pathlib; atexit.register(pathlib.Path({str(marker)!r}).touch)", tmp_path)
    assert done.returncode == code
    assert getattr(done, stream).startswith(text), (done.stdout, done.stderr)
    assert marker.is_file()


def test_the_console_script_waits_for_a_thread_still_working(tmp_path: Path) -> None:
    marker = tmp_path / "thread-finished"
    setup = (
        "import pathlib, threading, time; "
        f"threading.Thread(target=lambda: (time.sleep(1), pathlib.Path({str(marker)!r}).touch())).start()"
    )
    done = _console(["--version"], setup, tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("dcsweep ")
    assert marker.is_file()


def test_a_resumed_sweep_counts_its_trials_as_run_does(tmp_path: Path) -> None:
    from orchestrator import tracking
    from orchestrator.launcher import _resume_plan
    from orchestrator.plan import plan_trials
    from orchestrator.sweep_spec import parse_spec
    from orchestrator.workspace import Workspace
    from orchestrator.yaml_io import load_yaml

    spec = parse_spec(load_yaml(STATUS_SPEC, source="spec"), tmp_path)
    planned = plan_trials(spec, tmp_path)
    context = tracking.open_sweep(default_tracking_uri(tmp_path), tmp_path / "art", "st", "h", STATUS_SPEC)
    for trial in planned[:3]:
        tracking.TrialRun.open(context, trial.name, trial.key, trial.arm, trial.seed, {})
    tracking.TrialRun.open(context, planned[0].name, planned[0].key, planned[0].arm, planned[0].seed, {}).end_stopped(2)

    header, pending = _resume_plan(spec, Workspace.create(tmp_path), context)
    assert (header.planned, header.skipped, header.to_run) == (4, 1, 3)
    assert pending == {trial.key for trial in planned[1:]}
    assert header.lines()[0] == "sweep st: 4 trials planned, 1 skipped as finished, 3 to run"


def test_a_forced_stop_counts_unstarted_trials_as_unfinished(tmp_path: Path) -> None:
    import signal

    from mlflow.tracking import MlflowClient

    from orchestrator import tracking
    from orchestrator.launcher import _interrupted
    from orchestrator.plan import plan_trials
    from orchestrator.sweep_spec import parse_spec
    from orchestrator.yaml_io import load_yaml

    planned = plan_trials(parse_spec(load_yaml(STATUS_SPEC, source="spec"), tmp_path), tmp_path)
    context = tracking.open_sweep(default_tracking_uri(tmp_path), tmp_path / "art", "st", "h", STATUS_SPEC)
    finished, running = (tracking.TrialRun.open(context, t.name, t.key, t.arm, t.seed, {}) for t in planned[:2])
    finished.end_stopped(2)  # planned[2:] never started

    outcome = _interrupted(context, {t.key for t in planned}, launched=4, skipped=0, signum=signal.SIGINT)
    assert outcome.unfinished == 3
    assert MlflowClient(context.tracking_uri).get_run(running.run_id).info.status == "KILLED"
