"""End to end on a real local Ray with a stand-in trial body: launch, re-run, worker crash, driver crash, search."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from ray import cloudpickle
import pytest
from mlflow.tracking import MlflowClient

from orchestrator.launcher import Workspace, resume_sweep, run_sweep
from orchestrator.locks import driver_lock
from orchestrator.search import run_search
from trainables.errors import ConfigError

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("fake_trial_body", HERE / "fake_trial_body.py")
fake_trial_body = importlib.util.module_from_spec(_spec)
sys.modules["fake_trial_body"] = fake_trial_body
_spec.loader.exec_module(fake_trial_body)
cloudpickle.register_pickle_by_value(fake_trial_body)

pytestmark = pytest.mark.slow

SPEC = """\
name: {name}
base:
  dataset: {{name: digits, options: {options}}}
  method: {{name: scan}}
  train: {{epochs: {epochs}}}
arms:
  baseline: {{}}
  ours: {{init.strategy: dachi, selection.strategy: dss}}
seeds: {seeds}
resources: {{cpu: 1, max_concurrent: {concurrent}, max_failures: 2}}
"""
wait_for = fake_trial_body.wait_for


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    import ray

    yield
    ray.shutdown()


def _write_spec(
    folder: Path, name: str, epochs: int, seeds: list[int], epoch_s: float, concurrent: int = 2, **hold: Any
) -> Path:
    """A spec of the fake body; ``hold`` (gate, hold_at, hold_after_finished) holds trials mid-run (fake_trial_body)."""
    path = folder / f"{name}.yaml"
    options = json.dumps({"epoch_s": epoch_s, **{key: str(value) if key == "gate" else value for key, value in hold.items()}})
    path.write_text(SPEC.format(name=name, epochs=epochs, seeds=seeds, options=options, concurrent=concurrent))
    return path


def _runs(workdir: Path, sweep: str) -> tuple[MlflowClient, list, list]:
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"dcsweep/{sweep}")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [run for run in runs if run.data.tags.get("dcsweep.role") == "sweep"]
    children = [run for run in runs if run.data.tags.get("dcsweep.role") == "trial"]
    return client, parents, children


def _assert_continuous(client: MlflowClient, run, epochs: int) -> None:
    history = client.get_metric_history(run.info.run_id, "acc")
    assert sorted(point.step for point in history) == list(range(1, epochs + 1))
    assert all(abs(point.value - point.step / epochs) < 1e-9 for point in history)


def _trial_statuses(workdir: Path, sweep: str) -> list[str]:
    from ray.tune import ExperimentAnalysis

    return [trial.status for trial in ExperimentAnalysis(str(workdir / "ray_results" / sweep)).trials]


def test_sweep_gives_one_parent_and_one_child_per_trial_and_a_rerun_skips_them(tmp_path: Path) -> None:
    spec = _write_spec(tmp_path, "tiny", epochs=3, seeds=[0, 1], epoch_s=0.05)
    workspace = Workspace.create(tmp_path / "work")
    outcome = run_sweep(spec, workspace, body=fake_trial_body.fake_body, prefill=False)
    assert (outcome.launched, outcome.skipped, outcome.errored) == (4, 0, 0)
    assert _trial_statuses(workspace.workdir, "tiny") == ["TERMINATED"] * 4
    client, parents, children = _runs(workspace.workdir, "tiny")
    assert len(parents) == 1 and len(children) == 4
    assert {run.data.tags["mlflow.parentRunId"] for run in children} == {parents[0].info.run_id}
    assert {run.data.tags["dcsweep.trial_name"] for run in children} == {
        f"scan/{arm}/seed{seed}" for arm in ("baseline", "ours") for seed in (0, 1)
    }
    for run in children:
        assert run.info.status == "FINISHED"
        params = run.data.params
        assert params["arm"] == run.data.tags["dcsweep.arm"] and params["seed"] == run.data.tags["dcsweep.seed"]
        assert params["init.strategy"] == ("dachi" if params["arm"] == "ours" else "random")
        assert params["method.name"] == "scan" and "selection.epsilon" in params
        assert run.data.metrics["stop_epoch"] == 3
        _assert_continuous(client, run, epochs=3)
        artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
        assert {"predictions.npz", "curve.csv"} <= artifacts
    assert parents[0].data.tags["dcsweep.spec_hash"] and "spec.yaml" in {
        item.path for item in client.list_artifacts(parents[0].info.run_id)
    }

    again = run_sweep(spec, workspace, body=fake_trial_body.fake_body, prefill=False)
    assert (again.launched, again.skipped) == (0, 4)
    assert len(_runs(workspace.workdir, "tiny")[2]) == 4


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line), read from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        table[int(entry.name)] = (parent, command)
    return table


def _descends_from(pid: int, ancestor: int, table: dict[int, tuple[int, str]]) -> bool:
    while pid in table and pid != ancestor:
        pid = table[pid][0]
    return pid == ancestor


def _training_workers() -> list[int]:
    """This test's Ray worker processes that are running a trial (titled ``ray::<trainable>.train``).

    Only descendants of this process count, so another Ray on the same machine is left alone.
    """
    table = _processes()
    return [
        pid for pid, (_, command) in table.items()
        if command.startswith("ray::") and ".train" in command and "IDLE" not in command
        and _descends_from(pid, os.getpid(), table)
    ]


def test_worker_killed_mid_training_is_retried_from_its_checkpoint(tmp_path: Path) -> None:
    epochs = 6
    gate = tmp_path / "gate"
    gate.mkdir()
    spec = _write_spec(tmp_path, "crash", epochs=epochs, seeds=[0], epoch_s=0.05, gate=gate, hold_at=3)
    workspace = Workspace.create(tmp_path / "work")
    killed: list[int] = []

    def kill_the_first_worker_held_at_epoch_3() -> None:
        held = wait_for(lambda: sorted(gate.glob("held-*")), "a trial held at epoch 3")
        killed.append(int(held[0].name.removeprefix("held-")))
        os.kill(killed[0], signal.SIGKILL)
        (gate / "release").touch()

    killer = threading.Thread(target=kill_the_first_worker_held_at_epoch_3, daemon=True)
    killer.start()
    outcome = run_sweep(spec, workspace, body=fake_trial_body.fake_body, prefill=False)
    killer.join()
    assert killed, "no training worker was found to kill"
    assert outcome.errored == 0
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(str(workspace.workdir / "ray_results" / "crash"))
    assert [trial.status for trial in analysis.trials] == ["TERMINATED", "TERMINATED"]
    assert sum(trial.run_metadata.num_failures for trial in analysis.trials) == 1
    for frame in analysis.trial_dataframes.values():
        # restored from a checkpoint, not restarted: epoch 1 was reported once, the last epoch was reached
        assert list(frame["epoch"]).count(1) == 1 and frame["epoch"].max() == epochs
    client, parents, children = _runs(workspace.workdir, "crash")
    assert len(parents) == 1 and len(children) == 2
    for run in children:
        assert run.info.status == "FINISHED"
        _assert_continuous(client, run, epochs)


DRIVER = """\
import sys
from pathlib import Path
sys.path.insert(0, {here!r})
from ray import cloudpickle
import fake_trial_body
cloudpickle.register_pickle_by_value(fake_trial_body)
from orchestrator.launcher import Workspace, run_sweep
run_sweep({spec!r}, Workspace.create(Path({workdir!r})), body=fake_trial_body.fake_body, prefill=False)
"""


def _kill_tree(pid: int) -> None:
    """SIGKILL the driver and every process it started (its local Ray included)."""
    table = _processes()
    tree, frontier = [pid], [pid]
    while frontier:
        children = [child for child, (parent, _) in table.items() if parent in frontier]
        tree += children
        frontier = children
    for member in tree:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_killed_driver_is_resumed_without_rerunning_finished_trials(tmp_path: Path) -> None:
    epochs = 4
    gate = tmp_path / "gate"
    gate.mkdir()
    # one trial at a time; the second holds at epoch 2 once the first has finished, and the driver is killed then
    spec = _write_spec(tmp_path, "driver", epochs=epochs, seeds=[0, 1], epoch_s=0.05, concurrent=1, gate=gate,
                       hold_at=2, hold_after_finished=True)
    workdir = tmp_path / "work"
    log = tmp_path / "driver.log"
    driver = _start_driver(tmp_path, DRIVER.format(here=str(HERE), spec=str(spec), workdir=str(workdir)), log)
    try:
        wait_for(lambda: any(gate.glob("held-*")) or driver.poll() is not None, "a trial held after another finished")
        assert driver.poll() is None, f"the driver ended before it could be killed mid-sweep:\n{log.read_text()[-3000:]}"
        wait_for(lambda: _state_names_a_finished_trial(workdir / "ray_results" / "driver"), "Ray's saved state")
    finally:
        _kill_tree(driver.pid)
        driver.wait()  # dead, not dying: its lock on the sweep is released only once it has exited
    _, _, children = _runs(workdir, "driver")
    finished_before = {run.info.run_id: run.info.end_time for run in children if run.info.status == "FINISHED"}
    assert len(finished_before) == 1
    (gate / "release").touch()

    outcome = resume_sweep("driver", Workspace.create(workdir), body=fake_trial_body.fake_body)
    assert outcome.errored == 0
    assert _trial_statuses(workdir, "driver") == ["TERMINATED"] * 4
    client, parents, children = _runs(workdir, "driver")
    assert len(parents) == 1 and len(children) == 4
    assert len({run.data.tags["dcsweep.trial_key"] for run in children}) == 4
    for run in children:
        assert run.info.status == "FINISHED"
        _assert_continuous(client, run, epochs)
        if run.info.run_id in finished_before:
            assert run.info.end_time == finished_before[run.info.run_id]
    assert parents[0].info.status == "FINISHED"


def _start_driver(folder: Path, script_text: str, log: Path, name: str = "driver.py") -> subprocess.Popen:
    """A driver process in its own session; none of the RAY_* settings this process's own Ray exported."""
    script = folder / name
    script.write_text(script_text)
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    env["TUNE_GLOBAL_CHECKPOINT_S"] = "1"
    return subprocess.Popen([sys.executable, str(script)], env=env, start_new_session=True,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)


def _state_names_a_finished_trial(experiment: Path) -> bool:
    """Ray's experiment state on disk records a TERMINATED trial (so a resume keeps it)."""
    return any("TERMINATED" in path.read_text(errors="replace") for path in experiment.glob("experiment_state-*.json"))


SEARCH_SPEC = """\
name: opt
base:
  dataset: {name: digits, options: {epoch_s: 0.05}}
  method: {name: cdc}
  train: {epochs: 2}
seeds: [0]
resources: {cpu: 1, max_concurrent: 2}
search:
  num_samples: 2
  seed: 0
  metrics: [acc, train_time_s]
  modes: [max, min]
  space:
    selection.epsilon: {type: float, low: 0.0, high: 0.5}
    init.alpha: {type: float, low: 0.0, high: 5.0}
"""


def test_search_run_twice_grows_the_same_study(tmp_path: Path) -> None:
    import optuna

    spec = tmp_path / "opt.yaml"
    spec.write_text(SEARCH_SPEC)
    workspace = Workspace.create(tmp_path / "work")
    first = run_search(spec, workspace, body=fake_trial_body.fake_body)
    second = run_search(spec, workspace, body=fake_trial_body.fake_body)
    study = optuna.load_study(study_name="opt", storage=f"sqlite:///{workspace.workdir / 'optuna.db'}")
    assert (first.study_trials, second.study_trials, len(study.trials)) == (2, 4, 4)
    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in study.trials)
    assert {trial.number for trial in study.best_trials} == {row["number"] for row in second.best}
    _, parents, children = _runs(workspace.workdir, "opt")
    assert len(parents) == 1 and len(children) == 4
    sampled = {(run.data.params["selection.epsilon"], run.data.params["init.alpha"]) for run in children}
    assert len(sampled) == 4


def test_a_second_search_driver_is_refused_before_it_writes(tmp_path: Path) -> None:
    spec = tmp_path / "opt.yaml"
    spec.write_text(SEARCH_SPEC)
    workspace = Workspace.create(tmp_path / "work")
    with driver_lock(workspace.workdir, "opt"):
        with pytest.raises(ConfigError, match=rf"sweep 'opt' is already running .*\(driver pid {os.getpid()}\)"):
            run_search(spec, workspace, body=fake_trial_body.fake_body)
    assert not (workspace.workdir / "mlflow.db").exists() and not (workspace.workdir / "optuna.db").exists()


def test_search_with_seeds_repeats_each_point_once_per_seed(tmp_path: Path) -> None:
    import optuna

    spec = tmp_path / "rep.yaml"
    spec.write_text(
        SEARCH_SPEC.replace("name: opt", "name: rep").replace("seeds: [0]", "seeds: [0, 1]")
        .replace("  metrics: [acc, train_time_s]\n  modes: [max, min]\n", "  metrics: [loss]\n  modes: [min]\n  label_free: true\n")
        .replace("num_samples: 2", "num_samples: 1")
    )
    workspace = Workspace.create(tmp_path / "work")
    outcome = run_search(spec, workspace, body=fake_trial_body.fake_body)
    study = optuna.load_study(study_name="rep", storage=f"sqlite:///{workspace.workdir / 'optuna.db'}")
    assert outcome.study_trials == len(study.trials) == 1  # the Repeater tells Optuna the mean over seeds once
    assert study.trials[0].value == pytest.approx(0.5)  # the fake's final loss 1 / epochs, averaged over 2 seeds
    _, _, children = _runs(workspace.workdir, "rep")
    assert sorted(run.data.params["seed"] for run in children) == ["0", "1"]
    assert len({(run.data.params["selection.epsilon"], run.data.params["init.alpha"]) for run in children}) == 1


CLI_DRIVER = """\
import functools
import sys
sys.path.insert(0, {here!r})
from ray import cloudpickle
import fake_trial_body
cloudpickle.register_pickle_by_value(fake_trial_body)
from orchestrator import cli
from orchestrator import launcher  # `dcsweep run` imports run_sweep from here when it runs
launcher.run_sweep = functools.partial(launcher.run_sweep, body=fake_trial_body.fake_body, prefill=False)
sys.argv = ["dcsweep", "run", {spec!r}, "--workdir", {workdir!r}]
cli.console()  # the console script's entry point
"""


INTERRUPT_EPOCHS = 4


def _interrupt_held_sweep(tmp_path: Path, signum: int, second_driver: bool) -> tuple[Path, Path, int]:
    """Start a driver on a 2-trial sweep whose trials hold at epoch 2, optionally check that a second driver is
    refused, then send ``signum``; returns (gate, workdir, the driver's exit code)."""
    gate = tmp_path / "gate"
    gate.mkdir()
    spec = _write_spec(tmp_path, "interrupt", epochs=INTERRUPT_EPOCHS, seeds=[0], epoch_s=0.05, gate=gate, hold_at=2)
    workdir = tmp_path / "work"
    script = CLI_DRIVER.format(here=str(HERE), spec=str(spec), workdir=str(workdir))
    log = tmp_path / "first.log"
    first = _start_driver(tmp_path, script, log)
    try:
        wait_for(lambda: len(list(gate.glob("held-*"))) == 2 or first.poll() is not None, "both trials held")
        assert first.poll() is None, f"the driver ended before the interrupt:\n{log.read_text()[-3000:]}"
        if second_driver:
            second = _start_driver(tmp_path, script, tmp_path / "second.log", name="second.py")
            assert second.wait(timeout=600) == 2
            lines = (tmp_path / "second.log").read_text().splitlines()
            errors = [line for line in lines if line.startswith("error:")]
            assert len(errors) == 1 and f"driver pid {first.pid}" in errors[0] and "already running" in errors[0]
        os.kill(first.pid, signum)
        code = first.wait(timeout=600)
    finally:
        if first.poll() is None:
            _kill_tree(first.pid)
            first.wait()
    assert "with 2 trials unfinished; continue with `dcsweep resume interrupt" in log.read_text(), log.read_text()
    _, parents, children = _runs(workdir, "interrupt")
    assert [run.info.status for run in parents] == ["KILLED"]
    assert sorted(run.info.status for run in children) == ["KILLED", "KILLED"]
    return gate, workdir, code


def test_interrupted_sweep_refuses_a_second_driver_ends_killed_and_resumes(tmp_path: Path) -> None:
    gate, workdir, code = _interrupt_held_sweep(tmp_path, signal.SIGINT, second_driver=True)
    assert code == 128 + signal.SIGINT
    killed_ids = {run.info.run_id for run in _runs(workdir, "interrupt")[2]}

    (gate / "release").touch()
    outcome = resume_sweep("interrupt", Workspace.create(workdir), body=fake_trial_body.fake_body)
    assert (outcome.errored, outcome.unfinished, outcome.interrupted_by) == (0, 0, None)
    client, parents, children = _runs(workdir, "interrupt")
    assert [run.info.status for run in parents] == ["FINISHED"]
    assert {run.info.run_id for run in children} == killed_ids  # the same runs, reopened
    for run in children:
        assert run.info.status == "FINISHED"
        _assert_continuous(client, run, INTERRUPT_EPOCHS)


def test_sigterm_ends_the_sweep_killed_with_exit_code_143(tmp_path: Path) -> None:
    """What a batch scheduler sends: the same stop as Ctrl-C (the refusal and the resume are tested above)."""
    _, _, code = _interrupt_held_sweep(tmp_path, signal.SIGTERM, second_driver=False)
    assert code == 128 + signal.SIGTERM
