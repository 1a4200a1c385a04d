"""The driver's modules stay light: importing orchestrator/ and reports/, or validating a spec, loads no torch.

Each check runs in a fresh interpreter, so that what other tests imported does not hide an import.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "faiss")


def _loaded_heavy_modules(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter at the repository root; return the HEAVY modules it left imported."""
    probe = f"{code}\nimport sys\nprint(','.join(name for name in {HEAVY!r} if name in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return [name for name in done.stdout.strip().splitlines()[-1].split(",") if name] if done.stdout.strip() else []


def test_importing_every_orchestrator_and_reports_module_leaves_torch_out() -> None:
    code = (
        "import importlib, pkgutil, orchestrator, reports\n"
        "for package in (orchestrator, reports):\n"
        "    for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        importlib.import_module(module.name)\n"
    )
    assert _loaded_heavy_modules(code) == []


def test_planning_every_shipped_spec_checks_every_trial_without_torch(tmp_path: Path) -> None:
    code = (
        "from pathlib import Path\n"
        "from orchestrator.plan import plan_search, plan_trials\n"
        "from orchestrator.sweep_spec import load_spec, shipped_spec_names\n"
        "from trainables.plugins import selection_warnings\n"
        f"workdir = Path({str(tmp_path)!r})\n"
        "for name in shipped_spec_names():\n"
        "    spec = load_spec(name, workdir)\n"
        "    if spec.search is None:\n"
        "        selection_warnings(trial.trial_config for trial in plan_trials(spec, workdir))\n"
        "    else:\n"
        "        plan_search(spec, workdir)\n"
    )
    assert _loaded_heavy_modules(code) == []
