"""What one trial runs: ``run_trial`` in-process, or ``trainables.tune_session`` under Ray Tune.

``run_trial`` and ``TrialResult`` are imported lazily so that importing a small submodule (e.g.
``trainables.config``) does not pull in torch, the datasets and every plug-in.
"""

from typing import Any

__all__ = ["TrialCallback", "TrialResult", "run_trial"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from trainables import trial

        return getattr(trial, name)
    raise AttributeError(f"module 'trainables' has no attribute {name!r}")
