"""Exposure: a local Ray listens on 127.0.0.1 only, a Ray that does not start is one line, and ``dcsweep ui``
stops its MLflow server processes when it is stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator import tracking
from orchestrator.launcher import Workspace, connect_ray
from orchestrator.mlflow_layout import default_tracking_uri
from trainables.errors import DcsweepError

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from fake_trial_body import wait_for  # noqa: E402

REPO = HERE.parent.parent


def _listening_addresses(pids: set[int]) -> list[str]:
    """Local addresses of the TCP sockets in LISTEN state owned by ``pids`` (read from /proc)."""
    inodes = {}
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        except OSError:
            continue
    addresses = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                addresses.append(_decode(fields[1].split(":")[0], width))
    return addresses


def _decode(hex_address: str, width: int) -> str:
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # /proc stores 32-bit words host-endian
    if width == 8:
        return socket.inet_ntop(socket.AF_INET, words)
    return socket.inet_ntop(socket.AF_INET6, words)


def _descendants(root: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


@pytest.mark.slow
def test_a_local_ray_listens_on_the_loopback_only(tmp_path: Path) -> None:
    import ray

    ray.shutdown()
    try:
        connect_ray(Workspace.create(tmp_path), address=None)
        addresses = _listening_addresses(_descendants(os.getpid()) | {os.getpid()})
    finally:
        ray.shutdown()
    assert addresses, "Ray's servers were not found"
    assert all(address in ("127.0.0.1", "::ffff:127.0.0.1", "::1") for address in addresses), addresses


def test_a_ray_that_does_not_start_is_one_line_naming_what_to_check(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import orchestrator.launcher as launcher

    def timed_out(address):
        raise Exception("The current node timed out during startup. This could happen because some of the Ray\nprocesses failed")

    monkeypatch.setattr(launcher, "start_ray", timed_out)
    with pytest.raises(DcsweepError, match="the local Ray did not start .*timed out during startup.*retry") as local:
        connect_ray(Workspace.create(tmp_path), address=None)
    with pytest.raises(DcsweepError, match="could not join the Ray cluster at ray://head:10001 .*check the address"):
        connect_ray(Workspace.create(tmp_path), address="ray://head:10001")
    assert len(str(local.value).splitlines()) == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _accepts(port: int) -> bool:
    with socket.socket() as client:
        client.settimeout(1)
        return client.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_ui_stops_its_server_processes_when_stopped(signum: int, tmp_path: Path) -> None:
    tracking.prepare_store(default_tracking_uri(tmp_path))
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ui = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "ui", "--workdir", str(tmp_path), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_for(lambda: _accepts(port) or ui.poll() is not None, "the MLflow UI to listen", timeout_s=600)
        assert ui.poll() is None, ui.stdout.read()
        servers = _descendants(ui.pid)
        assert 1 <= len(servers) <= 2  # MLflow's CLI and one server process: no extra workers, no job runner
        ui.send_signal(signum)
        assert ui.wait(timeout=300) == 128 + signum
        wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in servers), "the server processes to end")
        assert not _accepts(port)
    finally:
        if ui.poll() is None:
            ui.kill()
