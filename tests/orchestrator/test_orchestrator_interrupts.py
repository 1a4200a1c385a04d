"""The driver's stop signals: outside Ray Tune they raise ``Interrupted`` with the signal; the handlers are
restored afterwards. (Inside Tune, see the interrupt drill in test_orchestrator_e2e.)"""

from __future__ import annotations

import os
import signal
import time

import pytest

from orchestrator.interrupts import TUNE_OWN_SIGINT, Interrupted, watch_interrupts


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_outside_tune_raises_interrupted_and_handlers_are_restored(signum: int) -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(Interrupted) as stopped, watch_interrupts() as watch:
        os.kill(os.getpid(), signum)
        for _ in range(6000):  # the handler runs at the next bytecode check; a sleep is one and is interrupted
            time.sleep(0.01)
        pytest.fail("the signal was not delivered")
    assert stopped.value.signum == signum == watch.signum
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_tune_running_tells_ray_tune_to_leave_sigint_alone_and_restores_the_setting(monkeypatch) -> None:
    monkeypatch.delenv(TUNE_OWN_SIGINT, raising=False)
    with watch_interrupts() as watch, watch.tune_running():
        assert os.environ[TUNE_OWN_SIGINT] == "1"
    assert TUNE_OWN_SIGINT not in os.environ
