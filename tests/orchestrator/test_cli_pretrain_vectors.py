"""``dcsweep pretrain --arch mlp`` on a CSV of vectors, with dataset options given as ``--option KEY=VALUE``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from orchestrator.cli import run_cli
from orchestrator.commands.pretrain import parse_dataset_options
from trainables.config import EncoderConfig
from trainables.errors import ConfigError
from trainables.models.encoders import InputShape, build_encoder


def write_csv(path: Path) -> Path:
    """40 rows: the label first under the header 'kind', then 6 features."""
    rng = np.random.default_rng(0)
    lines = ["kind," + ",".join(f"f{j}" for j in range(6))]
    for i in range(40):
        lines.append(f"k{i % 3}," + ",".join(f"{value:.4f}" for value in rng.normal(size=6) + i % 3))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_parse_dataset_options_reads_values_as_yaml() -> None:
    assert parse_dataset_options(["label_column=0", "file=a.csv", "header=false", "label_column=kind"]) == {
        "label_column": "kind", "file": "a.csv", "header": False}
    with pytest.raises(ConfigError, match="'label_column' must be KEY=VALUE"):
        parse_dataset_options(["label_column"])


def test_pretrain_mlp_on_csv_vectors_with_a_named_label_column(tmp_path: Path, capsys) -> None:
    data, out = write_csv(tmp_path / "data.csv"), tmp_path / "mlp.ckpt"
    code = run_cli(["pretrain", "--dataset", "arrays", "--root", str(data), "--option", "label_column=kind",
                "--arch", "mlp", "--epochs", "2", "--batch-size", "16", "--device", "cpu", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "epoch 2/2 loss" in printed and f"wrote {out}" in printed
    stored = torch.load(out, weights_only=True)
    assert stored["input_dim"] == 6 and stored["method"] == "mocov2-scarf"
    build_encoder(EncoderConfig(arch="mlp", checkpoint=out), InputShape(False, 0, None, 6))


@pytest.mark.parametrize("argv,needle", [
    (["-o", "label_column=species"], "label_column 'species' is not a column"),
    (["-o", "colour=red"], "dataset.options.colour is not an option of dataset 'arrays'"),
    (["-o", "label_column"], "must be KEY=VALUE"),
    (["--arch", "small_cnn"], "needs image data"),
    (["--corruption-rate", "1.5"], "corruption rate must lie in [0, 1)"),
])
def test_vector_pretrain_user_errors_exit_2_with_one_line(tmp_path: Path, capsys, argv: list[str], needle: str) -> None:
    data, out = write_csv(tmp_path / "data.csv"), tmp_path / "x.ckpt"
    base = ["pretrain", "--dataset", "arrays", "--root", str(data), "-o", "label_column=kind", "--arch", "mlp",
            "--epochs", "1", "--device", "cpu", "--out", str(out)]
    assert run_cli([*base, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and "\n" not in err
    assert not out.exists()
