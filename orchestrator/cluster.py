"""Connecting to Ray: a quiet local instance by default, or an existing cluster (``--address``)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from urllib.parse import urlparse

from orchestrator.tracking import is_local_backend
from trainables.errors import ConfigError

DEFAULT_PORTS = {"": 6379, "ray": 10001}  # a GCS address (host:port) and a Ray Client address (ray://host:port)
CONNECT_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 300.0  # a busy node may need minutes to start a worker process for the probe
HEAD_MARKER = "node:__internal_head__"
LOOPBACK = "127.0.0.1"
SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray's single-machine mode


def check_reachable(address: str) -> None:
    """Open (and close) a TCP connection to the head named by ``address``; ``auto`` is left to Ray's own lookup.

    Ray itself retries an unreachable address for minutes; this probe answers within ``CONNECT_TIMEOUT_S``.

    Raises:
        ConfigError: the address is malformed or nothing accepts connections there.
    """
    if address == "auto":
        return
    parsed = urlparse(address if "://" in address else f"//{address}")
    try:
        host, port = parsed.hostname, parsed.port or DEFAULT_PORTS.get(parsed.scheme)
    except ValueError:
        host = port = None
    if not host or port is None:
        raise ConfigError(f"--address {address} is not a Ray address; use auto, host:6379 or ray://host:10001")
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise ConfigError(
            f"cannot reach a Ray cluster at {address} ({reason}); start its head with `ray start --head` or pass the "
            f"address it printed"
        ) from None


def start_ray(address: str | None) -> int:
    """Start a new local Ray (``address=None``) or join a cluster, quietly; returns the number of alive nodes.

    A Ray already initialised in this process (e.g. by a test) is reused.

    Raises:
        ConfigError: the cluster at ``address`` cannot be reached.
    """
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # each trial checkpoints every few epochs by design; Ray's warning about frequent state snapshots is noise here
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if not ray.is_initialized():
        if address is not None:
            check_reachable(address)
        local = address is None
        try:
            with _on_loopback() if local else nullcontext():
                ray.init(
                    address=address or "local",
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                    configure_logging=True,
                    log_to_driver=True,
                    **({"_node_ip_address": LOOPBACK} if local else {}),
                )
        except ConnectionError as error:  # e.g. --address auto with no cluster running on this machine
            reason = str(error).split(". ")[0].strip()
            raise ConfigError(
                f"cannot join a Ray cluster at {address} ({reason}); start its head with `ray start --head` or pass "
                f"--address host:6379"
            ) from None
    return sum(1 for node in ray.nodes() if node.get("Alive"))


@contextmanager
def _on_loopback() -> Iterator[None]:
    """While a local Ray starts: keep its servers on 127.0.0.1.

    On Linux Ray swaps 127.0.0.1 for the machine's address and binds all interfaces; its single-machine mode (the
    one it uses on macOS) keeps every server on the loopback. The mode is set for this process and the servers it
    starts, and restored once they run.
    """
    from ray._private import ray_constants

    before = (os.environ.get(SINGLE_MACHINE_ENV), ray_constants.ENABLE_RAY_CLUSTER)
    os.environ[SINGLE_MACHINE_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before[1]
        if before[0] is None:
            os.environ.pop(SINGLE_MACHINE_ENV, None)
        else:
            os.environ[SINGLE_MACHINE_ENV] = before[0]


def check_cluster_storage(num_nodes: int, storage_path: str, storage_is_shared: bool, tracking_uri: str) -> None:
    """On a multi-node cluster, require shared storage and a tracking server.

    ``storage_is_shared`` is True when the user named the storage explicitly (``--storage``); a URI such as
    ``s3://`` or ``gs://`` counts as shared.

    Raises:
        ConfigError: a local storage path or a local (sqlite/file) tracking backend on more than one node.
    """
    if num_nodes <= 1:
        return
    if not (storage_is_shared or urlparse(storage_path).scheme not in ("", "file")):
        raise ConfigError(
            f"the cluster has {num_nodes} nodes but storage {storage_path} is a local folder; pass --storage with a "
            f"shared filesystem path or a URI such as s3://bucket/dcsweep"
        )
    if is_local_backend(tracking_uri):
        raise ConfigError(
            f"the cluster has {num_nodes} nodes but the MLflow backend {tracking_uri} is local to this machine; pass "
            f"--tracking-uri http://<host>:5000 pointing at an MLflow tracking server"
        )


def stop_ray() -> None:
    """Shut Ray down if this process started or joined it."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


@dataclass(frozen=True)
class NodeReport:
    """One alive node: its id and IP, whether it is the head, its Ray resources and what its probe answered."""

    node_id: str
    ip: str
    is_head: bool
    resources: dict[str, float]
    probe: str


def describe_cluster(address: str, probe: Callable[[], str]) -> list[NodeReport]:
    """Join the cluster at ``address`` and run ``probe`` once on every alive node (head first).

    The probe runs as a zero-CPU task pinned to its node, so it is answered even while trials occupy the CPUs;
    a node that does not answer within ``PROBE_TIMEOUT_S`` is reported as such.

    Raises:
        ConfigError: the cluster cannot be reached.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    start_ray(address)
    alive = [node for node in ray.nodes() if node.get("Alive")]
    nodes = sorted(alive, key=lambda node: HEAD_MARKER not in node["Resources"])
    remote_probe = ray.remote(num_cpus=0, max_retries=0)(probe)
    answers = [
        remote_probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote()
        for node in nodes
    ]
    ready, _ = ray.wait(answers, num_returns=len(answers), timeout=PROBE_TIMEOUT_S)
    reports = []
    for node, answer in zip(nodes, answers):
        try:
            text = ray.get(answer) if answer in ready else f"no answer within {PROBE_TIMEOUT_S:.0f} s"
        except ray.exceptions.RayError as error:
            text = f"probe failed: {type(error).__name__}"
        resources = {name: amount for name, amount in node["Resources"].items() if not name.startswith("node:")}
        is_head = HEAD_MARKER in node["Resources"]
        reports.append(NodeReport(node["NodeID"], node["NodeManagerAddress"], is_head, resources, text))
    return reports
