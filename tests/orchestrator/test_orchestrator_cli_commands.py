"""The small commands' boundaries: validate lists the trials, ui/status/resume refuse a workdir without the sweep."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.plan import plan_trials
from orchestrator.sweep_spec import load_spec


def test_validate_lists_every_trial_of_the_quickstart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["validate", "quickstart", "--workdir", str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    planned = plan_trials(load_spec("quickstart", tmp_path), tmp_path)
    assert lines[0] == f"quickstart: valid, {len(planned)} trials"
    assert lines[1:] == [f"  {trial.name}" for trial in planned] and "  cdc/ours/seed2" in lines


@pytest.mark.parametrize("argv", [["ui"], ["status", "nothing"], ["resume", "nothing"]])
def test_commands_on_an_empty_workdir_exit_2(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--workdir", str(tmp_path)])
    message = capsys.readouterr().err
    assert exited.value.code == 2 and message.startswith("error: ") and len(message.strip().splitlines()) == 1
    assert not (tmp_path / "ray_results").exists() and not (tmp_path / "mlflow.db").exists()
