"""Hostile input at the CLI boundary (issue 14): each exits 2 with one ``error:`` line and writes nothing.

Every case goes through the real entry point (``orchestrator.cli.main``) for ``validate --check-env`` and ``run``;
afterwards the workdir holds no mlflow.db, ray_results or optuna.db.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from orchestrator.cli import main
from orchestrator.sweep_spec import DEFAULT_MAX_TRIALS
from orchestrator.yaml_io import MAX_YAML_NODES

VALID = (Path(__file__).parent / "specs" / "small_ablation.yaml").read_text().replace("small_ablation", "edges")


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [x]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    return VALID + "\n".join(lines).replace("a", "bomb_") + "\n"


def _wide_grid(points_per_axis: int) -> str:
    alphas = ", ".join(str(1.0 + i / 10) for i in range(points_per_axis))
    epsilons = ", ".join(str(i / (10 * points_per_axis)) for i in range(points_per_axis))
    return VALID + f"grid: {{init.alpha: [{alphas}], selection.epsilon: [{epsilons}]}}\n"


# (case id, spec text or bytes, substring the one-line message must hold)
CATALOGUE = [
    ("not_utf8", VALID.encode().replace(b"name: edges", b"name: \xff\xfeedges"), "UTF-8"),
    ("huge_seed", VALID.replace("seeds: [0, 1]", "seeds: [100000000000000000000000]"), "seeds"),
    ("negative_seed", VALID.replace("seeds: [0, 1]", "seeds: [-1]"), "seeds"),
    ("string_seeds", VALID.replace("seeds: [0, 1]", "seeds: ['0', '1']"), "seeds"),
    ("bool_seed", VALID.replace("seeds: [0, 1]", "seeds: [true]"), "seeds"),
    ("float_seed", VALID.replace("seeds: [0, 1]", "seeds: [0.5]"), "seeds"),
    ("name_trailing_newline", VALID.replace("name: edges", 'name: "edges\\n"'), "name"),
    ("name_with_dots_only_path", VALID.replace("name: edges", "name: ../edges"), "name"),
    ("empty_arm_name", VALID.replace("  baseline: {}", "  '': {}"), "arm name"),
    ("path_arm_name", VALID.replace("  baseline: {}", "  '../../x': {}"), "arm name"),
    ("arm_name_with_newline", VALID.replace("  baseline: {}", '  "a\\nb": {}'), "arm name"),
    ("two_arms_same_config", VALID.replace("  baseline: {}", "  ok: {}\n  copy_of_ok: {}"), "copy_of_ok"),
    ("arm_equal_to_base", VALID.replace("  baseline: {}", "  baseline: {}\n  same: {init.strategy: random}"), "same"),
    ("grid_repeats_a_value", VALID + "grid: {selection.epsilon: [0.1, 0.1]}\n", "selection.epsilon=0.1"),
    ("grid_same_value_spelled_twice", VALID + "grid: {init.alpha: [2, 2.0]}\n", "init.alpha"),
    ("too_many_trials", _wide_grid(100), str(DEFAULT_MAX_TRIALS)),
    ("max_trials_lowered", VALID + "max_trials: 3\n", "max_trials"),
    ("alias_bomb", _alias_bomb(), str(MAX_YAML_NODES)),
    ("recursive_alias", VALID + "loop: &loop [*loop]\n", "alias"),
    ("deep_nesting", VALID + "deep: " + "[" * 5000 + "]" * 5000 + "\n", "nests too deeply"),
    ("empty_file", "", "mapping"),
    ("list_not_mapping", "- name: edges\n", "mapping"),
    ("null_arms", VALID.replace("  baseline: {}\n  ours: {init.strategy: dachi, selection.strategy: dss}\n", "  x: null\n"),
     "arms"),
    ("device_typo", VALID.replace("epochs: 2}", "epochs: 2, device: gpu0}"), "train.device"),
]


@pytest.fixture()
def run_cli(capsys: pytest.CaptureFixture[str]):
    def call(argv: list[str]) -> tuple[int, str]:
        with pytest.raises(SystemExit) as exited:
            main(argv)
        return int(exited.value.code), capsys.readouterr().err.strip()

    return call


def _assert_nothing_written(workdir: Path) -> None:
    for name in ("mlflow.db", "ray_results", "optuna.db", "mlartifacts"):
        assert not (workdir / name).exists(), name


def _assert_one_line(code: int, message: str, key: str) -> None:
    assert code == 2, message
    assert len(message.splitlines()) == 1 and message.startswith("error: "), message
    assert key in message, message


@pytest.mark.parametrize(("content", "key"), [case[1:] for case in CATALOGUE], ids=[case[0] for case in CATALOGUE])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(content: str | bytes, key: str, tmp_path: Path, run_cli) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(content if isinstance(content, bytes) else content.encode())
    workdir = tmp_path / "work"
    for command in (["validate", "--check-env"], ["run"]):
        _assert_one_line(*run_cli([command[0], str(spec), *command[1:], "--workdir", str(workdir)]), key)
    _assert_nothing_written(workdir)


def test_the_valid_spec_of_the_catalogue_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "spec.yaml").write_text(VALID)
    main(["validate", str(tmp_path / "spec.yaml"), "--check-env", "--workdir", str(tmp_path / "work")])
    assert "edges: valid, 4 trials" in capsys.readouterr().out


def test_a_workdir_that_is_a_file_is_refused(tmp_path: Path, run_cli) -> None:
    (tmp_path / "spec.yaml").write_text(VALID)
    workdir = tmp_path / "work"
    workdir.write_text("not a folder")
    for command in ("validate", "run"):
        _assert_one_line(*run_cli([command, str(tmp_path / "spec.yaml"), "--workdir", str(workdir)]), "is a file")
    for command in (["resume", "edges"], ["status", "edges"]):
        _assert_one_line(*run_cli([*command, "--workdir", str(workdir)]), "is a file")
    assert workdir.read_text() == "not a folder"


@pytest.mark.parametrize(
    ("argv", "key"),
    [
        ([], "Missing command"),
        (["run"], "Missing argument"),
        (["validate"], "Missing argument"),
        (["frobnicate"], "No such command"),
        (["run", "quickstart", "--bogus"], "No such option"),
        (["ui", "--port", "99999"], "--port"),
        (["resume", "../../x"], "not a sweep name"),
    ],
    ids=["no_args", "run_without_spec", "validate_without_spec", "unknown_command", "unknown_option", "bad_port",
         "resume_path_name"],
)
def test_usage_errors_are_one_line_with_the_usage_and_exit_2(argv: list[str], key: str, tmp_path: Path, run_cli) -> None:
    code, message = run_cli([*argv, "--workdir", str(tmp_path / "work")] if argv[:1] == ["resume"] else argv)
    _assert_one_line(code, message, key)
    if argv[:1] != ["resume"]:
        assert "usage: dcsweep" in message and "--help" in message


def test_check_env_reads_the_npz_keys_that_a_plain_path_check_misses(tmp_path: Path, run_cli, capsys) -> None:
    data = tmp_path / "data.npz"
    np.savez(data, features=np.zeros((6, 3), np.float32), labels=np.arange(6) % 2)
    spec = tmp_path / "spec.yaml"
    spec.write_text(VALID.replace("name: digits}", f"name: arrays, root: {data}}}").replace("small_cnn", "mlp"))
    workdir = tmp_path / "work"
    main(["validate", str(spec), "--workdir", str(workdir)])  # structurally valid: the keys are only seen on disk
    capsys.readouterr()
    _assert_one_line(*run_cli(["validate", str(spec), "--check-env", "--workdir", str(workdir)]), "'x'")
    np.savez(data, x=np.zeros((6, 3), np.float32), y=np.arange(6) % 2)
    main(["validate", str(spec), "--check-env", "--workdir", str(workdir)])
    _assert_nothing_written(workdir)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU, so train.device cuda is satisfiable")
def test_check_env_refuses_a_cuda_device_on_a_machine_without_one(tmp_path: Path, run_cli) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(VALID.replace("epochs: 2}", "epochs: 2, device: cuda}"))
    _assert_one_line(*run_cli(["validate", str(spec), "--check-env", "--workdir", str(tmp_path / "work")]), "CUDA")
    _assert_nothing_written(tmp_path / "work")
