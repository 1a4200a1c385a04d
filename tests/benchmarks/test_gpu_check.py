"""``benchmarks/gpu_check.py --smoke``: the CPU checks run and pass, the GPU-only ones say they were skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trainables.methods import METHODS

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=1800)


@pytest.mark.slow
def test_smoke_runs_the_cpu_checks_and_skips_the_gpu_ones() -> None:
    done = _run("--smoke")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("check "))
    table = [line for line in lines[header + 1:] if line.strip()]
    expected = {f"{name} trial": "ok" for name in METHODS} | {
        "faiss kNN": "ok", "faiss K-means": "skipped", "4 trials at gpu: 0.25": "skipped", "DSS speed-up": "ok",
    }
    assert len(table) == len(expected)
    for start, status in expected.items():
        (row,) = [line for line in table if line.startswith(start)]
        assert f" {status} " in row, row
    assert all("on cpu" in row for row in table if " trial, " in row)
    assert all("needs a GPU" in row for row in table if " skipped " in row)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible: the full check would run")
def test_without_smoke_and_without_a_gpu_it_says_so_and_exits_2() -> None:
    done = _run()
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: no CUDA GPU is visible")
