"""``--address`` that no Ray cluster answers: one line naming the address, exit 2, nothing started or written."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.cluster import check_reachable
from trainables.errors import ConfigError

SPEC = """\
name: unreachable
base:
  dataset: {name: digits}
  train: {epochs: 1, device: cpu}
"""


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, read, released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("address", ["127.0.0.1:{port}", "ray://127.0.0.1:{port}", "localhost:{port}"])
def test_closed_port_is_refused_naming_the_address(address: str) -> None:
    address = address.format(port=_closed_port())
    with pytest.raises(ConfigError, match=f"cannot reach a Ray cluster at {address} ") as raised:
        check_reachable(address)
    assert "ray start --head" in str(raised.value)


@pytest.mark.parametrize("address", ["a:b:c", "host:notaport", "://"])
def test_malformed_address_names_the_accepted_forms(address: str) -> None:
    with pytest.raises(ConfigError, match="is not a Ray address; use auto, host:6379 or ray://host:10001"):
        check_reachable(address)


def test_listening_port_passes() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_reachable(f"127.0.0.1:{server.getsockname()[1]}")


def test_run_against_an_unreachable_address_exits_2_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import ray

    spec = tmp_path / "unreachable.yaml"
    spec.write_text(SPEC)
    workdir = tmp_path / "work"
    address = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(SystemExit) as done:
        main(["run", str(spec), "--workdir", str(workdir), "--address", address])
    assert done.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: cannot reach a Ray cluster at {address} ") and "\n" not in error
    assert not workdir.exists() and not ray.is_initialized()


def test_doctor_against_an_unreachable_address_exits_2_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    address = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(SystemExit) as done:
        main(["doctor", "--address", address])
    assert done.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: cannot reach a Ray cluster at {address} ") and "\n" not in error
