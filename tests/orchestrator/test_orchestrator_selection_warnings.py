"""`dcsweep validate` shows the selectors' one-line warnings (DSS warm-up) on stderr and still validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli import main

SPEC = """
name: short_dss
base:
  dataset: {name: digits}
  encoder: {arch: small_cnn}
  train: {epochs: EPOCHS, device: cpu}
arms:
  baseline: {}
  +DSS: {selection.strategy: dss}
seeds: [0, 1]
"""


@pytest.mark.parametrize(("epochs", "warned"), [(6, True), (10, False)])
def test_validate_warns_once_about_a_short_dss_protocol(
    epochs: int, warned: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "short_dss.yaml"
    spec.write_text(SPEC.replace("EPOCHS", str(epochs)))
    main(["validate", str(spec), "--workdir", str(tmp_path / "work")])
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "short_dss: valid, 4 trials"
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == int(warned)
    if warned:
        assert "selection.strategy 'dss' with train.epochs 6" in warnings[0]
