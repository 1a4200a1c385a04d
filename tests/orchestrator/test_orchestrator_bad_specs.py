"""The bad-spec catalogue: every invalid spec exits 2 with one line naming the key, and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli import main

VALID = (Path(__file__).parent / "specs" / "small_ablation.yaml").read_text().replace("small_ablation", "catalogue")

SEARCH = """\
name: catalogue_search
base:
  dataset: {name: digits}
  method: {name: cdc}
seeds: [0]
search:
  num_samples: 2
  space:
    selection.epsilon: {type: float, low: 0.0, high: 0.5}
"""

# (case id, spec text, substring that must appear in the message, launching command)
CATALOGUE = [
    ("unknown_method", VALID.replace("name: scan", "name: kmeans"), "method.name", "run"),
    ("unknown_arm_key", VALID.replace("selection.strategy: dss", "selection.strategy: dss, selection.epsilonn: 0.2"),
     "selection.epsilonn", "run"),
    ("wrong_type", VALID.replace("epochs: 2", "epochs: many"), "train.epochs", "run"),
    ("negative_epsilon", VALID.replace("selection.strategy: dss", "selection.strategy: dss, selection.epsilon: -0.1"),
     "selection.epsilon", "run"),
    ("empty_seeds", VALID.replace("seeds: [0, 1]", "seeds: []"), "seeds", "run"),
    ("seed_not_int", VALID.replace("seeds: [0, 1]", "seeds: [zero]"), "seeds", "run"),
    ("duplicate_seeds", VALID.replace("seeds: [0, 1]", "seeds: [1, 1]"), "seeds", "run"),
    ("gpu_over_local", VALID + "resources: {gpu: 64}\n", "resources.gpu", "run"),
    ("gpu_fraction_above_one", VALID + "resources: {gpu: 1.5}\n", "resources.gpu", "run"),
    ("zero_concurrency", VALID + "resources: {max_concurrent: 0}\n", "resources.max_concurrent", "run"),
    ("missing_checkpoint", VALID.replace("arch: small_cnn}", "arch: small_cnn, checkpoint: '${workdir}/none.ckpt'}"),
     "encoder.checkpoint", "run"),
    ("missing_dataset_root", VALID.replace("name: digits}", "name: digits, root: /nonexistent/digits}"),
     "dataset.root", "run"),
    ("duplicate_arm", VALID.replace("arms:\n", "arms:\n  ours: {init.strategy: prototype}\n"), "'ours'", "run"),
    ("unknown_grid_key", VALID + "grid: {init.alpah: [1.0, 2.0]}\n", "init.alpah", "run"),
    ("bad_grid_value", VALID + "grid: {init.strategy: [dachi, densest]}\n", "init.strategy", "run"),
    ("empty_grid_list", VALID + "grid: {init.alpha: []}\n", "init.alpha", "run"),
    ("unknown_top_level_key", VALID + "epochs: 3\n", "epochs", "run"),
    ("name_with_slash", VALID.replace("name: catalogue", "name: a/b"), "name", "run"),
    ("unknown_placeholder", VALID.replace("name: digits}", "name: digits, root: '${datasets}/digits'}"),
     "${datasets}", "run"),
    ("not_yaml", VALID + "arms: [unclosed\n", "YAML", "run"),
    ("unknown_report_key", VALID + "report: {rows: [arm], colums: [seed]}\n", "report.colums", "run"),
    ("search_non_numeric_key", SEARCH.replace("selection.epsilon: {type: float", "method.name: {type: float"),
     "method.name", "search"),
    ("search_low_above_high", SEARCH.replace("low: 0.0, high: 0.5", "low: 0.5, high: 0.1"),
     "search.space.selection.epsilon", "search"),
    ("search_negative_range", SEARCH.replace("low: 0.0, high: 0.5", "low: -0.5, high: 0.1"),
     "selection.epsilon", "search"),
    ("search_unknown_key", SEARCH.replace("selection.epsilon:", "selection.eps:"), "selection.eps", "search"),
    ("search_unknown_metric", SEARCH + "  metrics: [accuracy]\n", "metrics", "search"),
    ("search_modes_mismatch", SEARCH + "  metrics: [acc, train_time_s]\n  modes: [max]\n", "modes", "search"),
    ("search_label_free_acc", SEARCH + "  metrics: [acc]\n  label_free: true\n", "label_free", "search"),
    ("search_asha_several_seeds", SEARCH.replace("seeds: [0]", "seeds: [0, 1]") + "  scheduler: asha\n", "asha", "search"),
    ("search_with_grid", SEARCH + "grid: {init.alpha: [1.0, 2.0]}\n", "grid", "search"),
]


def _exit_code_and_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return int(exited.value.code), capsys.readouterr().err.strip()


@pytest.mark.parametrize(("text", "key", "command"), [case[1:] for case in CATALOGUE], ids=[case[0] for case in CATALOGUE])
def test_bad_spec_exits_2_naming_the_key(
    text: str, key: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    workdir = tmp_path / "work"
    for argv in (["validate", str(spec), "--check-env", "--workdir", str(workdir)], [command, str(spec), "--workdir", str(workdir)]):
        code, message = _exit_code_and_message(argv, capsys)
        assert code == 2, message
        assert message.startswith("error: ") and key in message
        assert len(message.splitlines()) == 1
    assert not (workdir / "mlflow.db").exists() and not (workdir / "ray_results").exists()


def test_catalogue_is_large_and_the_valid_specs_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert len(CATALOGUE) >= 15
    for name, text in (("valid.yaml", VALID), ("search.yaml", SEARCH)):
        (tmp_path / name).write_text(text)
        main(["validate", str(tmp_path / name), "--check-env", "--workdir", str(tmp_path / "work")])
        assert "valid" in capsys.readouterr().out


def test_run_refuses_a_search_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "search.yaml").write_text(SEARCH)
    code, message = _exit_code_and_message(["run", str(tmp_path / "search.yaml"), "--workdir", str(tmp_path)], capsys)
    assert code == 2 and "dcsweep search" in message
    assert not (tmp_path / "mlflow.db").exists()


def test_unknown_spec_name_lists_the_shipped_specs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, message = _exit_code_and_message(["validate", "no_such_spec", "--workdir", str(tmp_path)], capsys)
    assert code == 2 and "quickstart" in message
