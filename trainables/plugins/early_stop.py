"""Label-free early stopping from the pruning curve (method.md, paper appendix C.7)."""

from __future__ import annotations

from typing import Any


class PruningEarlyStop:
    """Stops when the running maximum of the excluded-sample count has not grown for ``patience`` epochs.

    The patience clock starts only once the maximum is positive: the first epochs, in which
    nothing can be excluded yet (DSS prunes from epoch 4 on), and any run that never prunes,
    do not count as "no growth", so they never stop training by themselves. Each epoch that
    sets a new maximum resets the clock.

    Example (patience 2):
        >>> stop = PruningEarlyStop(patience=2)
        >>> [stop.update(epoch, n) for epoch, n in enumerate([0, 0, 5, 7, 7, 6, 9, 9, 9], start=1)]
        [False, False, False, False, False, True, True, True, True]
        >>> stop.stop_epoch
        6

    Raises:
        ValueError: if ``patience < 1``.
    """

    def __init__(self, patience: int) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, but got {patience}")
        self.patience = patience
        self.max_excluded = 0
        self.epochs_without_growth = 0
        self.history: list[int] = []
        self.stop_epoch: int | None = None

    def update(self, epoch: int, n_excluded: int) -> bool:
        """Record ``n_excluded`` for ``epoch``; True once the stopping rule has fired."""
        self.history.append(int(n_excluded))
        if n_excluded > self.max_excluded:
            self.max_excluded = int(n_excluded)
            self.epochs_without_growth = 0
        elif self.max_excluded > 0:
            self.epochs_without_growth += 1
        if self.stop_epoch is None and self.epochs_without_growth >= self.patience:
            self.stop_epoch = epoch
        return self.stop_epoch is not None

    def state_dict(self) -> dict[str, Any]:
        """Plain Python values, enough to resume exactly."""
        return {
            "patience": self.patience,
            "max_excluded": self.max_excluded,
            "epochs_without_growth": self.epochs_without_growth,
            "history": list(self.history),
            "stop_epoch": self.stop_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of ``state_dict``."""
        self.patience = int(state["patience"])
        self.max_excluded = int(state["max_excluded"])
        self.epochs_without_growth = int(state["epochs_without_growth"])
        self.history = [int(n) for n in state["history"]]
        self.stop_epoch = None if state["stop_epoch"] is None else int(state["stop_epoch"])
