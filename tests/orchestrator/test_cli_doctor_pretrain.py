"""``dcsweep doctor`` and ``dcsweep pretrain`` through the real entry point."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
import torch

from orchestrator.cli import run_cli
from trainables.config import EncoderConfig
from trainables.models.encoders import InputShape, build_encoder


def test_doctor_prints_versions_devices_and_found_roots(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "coil20").mkdir()
    monkeypatch.setenv("DCSWEEP_DATA", str(tmp_path))
    assert run_cli(["doctor"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert metadata.version("torch") in lines["torch"] and metadata.version("optuna") in lines["optuna"]
    for name in ("ray", "faiss", "mlflow", "GPU"):
        assert name in lines
    assert ("none visible" in lines["GPU"]) == (not torch.cuda.is_available())
    assert f"found at {tmp_path / 'coil20'}" in lines["coil20"]
    assert "not found" in lines["stl10"] and "bundled" in lines["digits"]


def test_pretrain_writes_a_loadable_checkpoint(tmp_path: Path, capsys) -> None:
    out = tmp_path / "digits.ckpt"
    code = run_cli(["pretrain", "--dataset", "digits", "--epochs", "1", "--out", str(out), "--batch-size", "128",
                "--device", "cpu", "--seed", "3"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "epoch 1/1 loss" in printed and f"wrote {out}" in printed
    assert torch.load(out, weights_only=True)["seed"] == 3
    build_encoder(EncoderConfig(arch="small_cnn", checkpoint=out), InputShape(True, 1, 8, 64))


@pytest.mark.parametrize("argv,needle", [
    (["--dataset", "nope"], "unknown dataset 'nope'"),
    (["--arch", "resnet99"], "unknown encoder arch"),
    (["--image-size", "0"], "image_size"),
    (["--device", "tpu"], "train.device"),
])
def test_pretrain_user_errors_exit_2_with_one_line(tmp_path: Path, capsys, argv: list[str], needle: str) -> None:
    assert run_cli(["pretrain", "--out", str(tmp_path / "x.ckpt"), "--epochs", "1", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and "\n" not in err
    assert not (tmp_path / "x.ckpt").exists()
