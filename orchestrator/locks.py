"""Exclusive file locks (``flock``): one driver per sweep and workdir, and one-time set-up of shared files.

The kernel drops a ``flock`` when its holder dies, so a lock left behind by a killed driver is free again: its file
still names the dead pid, and the next driver takes it over.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trainables.errors import ConfigError

LOCK_FOLDER = ".locks"


@contextmanager
def held_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing), waiting for another holder to release it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing the only descriptor releases the lock


@contextmanager
def driver_lock(workdir: Path, sweep_id: str) -> Iterator[None]:
    """Be the only driver of ``sweep_id`` in ``workdir`` while the block runs; the lock file names this pid.

    Raises:
        ConfigError: another live process drives this sweep in this workdir (the message names its pid).
    """
    path = workdir / LOCK_FOLDER / f"{sweep_id}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ConfigError(
                f"sweep {sweep_id!r} is already running in {workdir} (driver pid {holder}); wait for it to end, or "
                f"stop it and continue with `dcsweep resume {sweep_id} --workdir {workdir}`"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)


def lock_holder(workdir: Path, sweep_id: str) -> str:
    """The pid written in the sweep's lock file ('' when there is none); the holder may have died since."""
    path = workdir / LOCK_FOLDER / f"{sweep_id}.lock"
    return path.read_text().strip() if path.is_file() else ""
