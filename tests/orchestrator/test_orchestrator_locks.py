"""One driver per sweep (a lock naming the driver's pid, taken over from a dead driver) and the sqlite store
created and migrated once, however many processes open a fresh workdir at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.locks import driver_lock, lock_holder
from orchestrator.mlflow_layout import default_tracking_uri
from trainables.errors import ConfigError

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from fake_trial_body import wait_for  # noqa: E402

REPO = HERE.parent.parent

HOLDER = """\
import sys, time
from pathlib import Path
from orchestrator.locks import driver_lock
gate = Path(sys.argv[1])
with driver_lock(Path(sys.argv[2]), "sweep"):
    (gate / "locked").touch()
    while not (gate / "release").exists():
        time.sleep(0.05)
"""


def _python(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stderr=subprocess.PIPE, text=True)


def test_a_second_driver_is_refused_naming_the_first_one_pid(tmp_path: Path) -> None:
    gate, workdir = tmp_path / "gate", tmp_path / "work"
    gate.mkdir()
    first = _python(HOLDER, str(gate), str(workdir))
    try:
        wait_for(lambda: (gate / "locked").exists() or first.poll() is not None, "the first driver's lock")
        assert first.poll() is None, first.stderr.read()
        with pytest.raises(ConfigError, match=rf"already running .*\(driver pid {first.pid}\)"):
            with driver_lock(workdir, "sweep"):
                pytest.fail("the lock was taken twice")
        with driver_lock(workdir, "other_sweep"):  # another sweep of the same workdir is independent
            pass
    finally:
        (gate / "release").touch()
        assert first.wait(timeout=300) == 0
    with driver_lock(workdir, "sweep"):  # released when its driver ended
        assert lock_holder(workdir, "sweep") == str(os.getpid())


def test_a_lock_left_by_a_dead_driver_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = dead.stdout.strip()
    lock = tmp_path / ".locks" / "sweep.lock"
    lock.parent.mkdir()
    lock.write_text(f"{dead_pid}\n")
    with driver_lock(tmp_path, "sweep"):
        assert lock_holder(tmp_path, "sweep") == str(os.getpid()) != dead_pid


OPENER = """\
import sys, time
from pathlib import Path
from orchestrator import tracking
from mlflow.tracking import MlflowClient
gate, uri, index = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
(gate / f"ready-{index}").touch()
while not (gate / "go").exists():
    time.sleep(0.01)
tracking.prepare_store(uri)
"""


def test_several_processes_opening_a_fresh_store_at_once_all_succeed(tmp_path: Path) -> None:
    gate, uri = tmp_path / "gate", default_tracking_uri(tmp_path / "work")
    gate.mkdir()
    (tmp_path / "work").mkdir()
    openers = [_python(OPENER, str(gate), uri, str(index)) for index in range(4)]
    wait_for(lambda: len(list(gate.glob("ready-*"))) == 4, "every opener to be ready")
    (gate / "go").touch()  # all start migrating the same fresh database together
    errors = [opener.stderr.read() for opener in openers if opener.wait(timeout=600) != 0]
    assert not errors, errors[0][-3000:]
    client = MlflowClient(uri)
    client.create_experiment("after")
    assert {experiment.name for experiment in client.search_experiments()} == {"Default", "after"}
