"""Connecting to Ray: a quiet local instance by default, or an existing cluster (``--address``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from urllib.parse import urlparse

from trainables.errors import ConfigError

LOCAL_TRACKING_SCHEMES = ("", "file", "sqlite")
LOOPBACK = "127.0.0.1"
SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray's single-machine mode


def start_ray(address: str | None) -> int:
    """Start a new local Ray (``address=None``) or join a cluster, quietly; returns the number of alive nodes.

    A Ray already initialised in this process (e.g. by a test) is reused.
    """
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # each trial checkpoints every few epochs by design; Ray's warning about frequent state snapshots is noise here
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if not ray.is_initialized():
        local = address is None
        with _on_loopback() if local else nullcontext():
            ray.init(
                address=address or "local",
                include_dashboard=False,
                logging_level=logging.WARNING,
                configure_logging=True,
                log_to_driver=True,
                **({"_node_ip_address": LOOPBACK} if local else {}),
            )
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
    if urlparse(tracking_uri).scheme in LOCAL_TRACKING_SCHEMES:
        raise ConfigError(
            f"the cluster has {num_nodes} nodes but the MLflow backend {tracking_uri} is local to this machine; pass "
            f"--tracking-uri http://<host>:5000 pointing at an MLflow tracking server"
        )


def stop_ray() -> None:
    """Shut Ray down if this process started or joined it."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
