"""SIGINT and SIGTERM of a sweep's driver: Ray Tune stops gracefully, and the signal decides the exit code.

While Ray Tune runs, the first signal asks Tune to stop (it saves its state and stops the trials, through its own
SIGUSR1 handler); outside Tune, or on a second signal, ``Interrupted`` is raised. The driver then ends the sweep
KILLED and the CLI exits ``128 + signal``: 130 for SIGINT (Ctrl-C), 143 for SIGTERM.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
TUNE_STOP_SIGNAL = signal.SIGUSR1  # Ray Tune's graceful stop, registered by every tune.run
TUNE_OWN_SIGINT = "TUNE_DISABLE_SIGINT_HANDLER"


class Interrupted(BaseException):
    """The driver was stopped by ``signum`` outside Ray Tune (a BaseException, like KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class InterruptWatch:
    """Remembers the first stop signal; see ``watch_interrupts``."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._in_tune = False

    def handle(self, signum: int, frame: object) -> None:
        first = self.signum is None
        self.signum = self.signum or signum
        tune_listens = signal.getsignal(TUNE_STOP_SIGNAL) not in (signal.SIG_DFL, signal.SIG_IGN, None)
        if self._in_tune and first and tune_listens:
            os.kill(os.getpid(), TUNE_STOP_SIGNAL)
        else:
            raise Interrupted(signum)

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self.handle)

    @contextmanager
    def tune_running(self) -> Iterator[None]:
        """Mark the block as Ray Tune's loop: a signal then stops Tune gracefully instead of raising."""
        before = os.environ.get(TUNE_OWN_SIGINT)
        os.environ[TUNE_OWN_SIGINT] = "1"  # Tune must not replace our SIGINT handler
        if threading.current_thread() is threading.main_thread():
            self.install()  # again: Ray's core, started since, installs its own SIGTERM handler (it aborts)
        self._in_tune = True
        try:
            yield
        finally:
            self._in_tune = False
            if before is None:
                os.environ.pop(TUNE_OWN_SIGINT, None)
            else:
                os.environ[TUNE_OWN_SIGINT] = before


@contextmanager
def watch_interrupts() -> Iterator[InterruptWatch]:
    """Route SIGINT and SIGTERM to an ``InterruptWatch`` while the block runs (main thread only; elsewhere the
    watch stays empty and signals keep their handlers)."""
    watch = InterruptWatch()
    if threading.current_thread() is not threading.main_thread():
        yield watch
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    watch.install()
    try:
        yield watch
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
