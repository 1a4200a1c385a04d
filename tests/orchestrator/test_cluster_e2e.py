"""A real multi-node cluster on one machine: a Ray head plus two worker raylets, an ``mlflow server`` and a shared
storage folder, driven by ``dcsweep run --address`` with the real trainable; then the loss of a worker node.

Trials ask for a custom resource that only the worker nodes offer, so every trial must run on a worker.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_digits

from orchestrator.tracking import LAST_EPOCH, NODE_ID

pytestmark = pytest.mark.slow

WORKER_RESOURCE = "dcsweep_worker"
DEADLINE_S = 900  # generous: the suite must pass on a loaded 2-core box; conditions are waited on, never timed
ARMS = """\
  baseline: {{}}
  +DACHI: {{init.strategy: dachi}}
  +DSS: {{selection.strategy: dss}}
  ours: {{init.strategy: dachi, selection.strategy: dss}}
  loss: {{selection.strategy: loss}}
  random: {{selection.strategy: random}}
"""
SPEC = """\
name: {name}
base:
  dataset: {{name: arrays, root: "{root}"}}
  encoder: {{arch: small_cnn}}
  method: {{name: scan}}
  train: {{epochs: {epochs}, batch_size: 100, device: cpu}}
  cache_dir: "{cache}"
arms:
{arms}seeds: [0]
resources: {{cpu: 1, max_concurrent: 2, max_failures: 3, custom: {{{resource}: 1}}}}
"""


@dataclass
class Cluster:
    """The running Ray cluster (head address, worker nodes by id) and the MLflow server's URI and artifact folder."""

    ray: object
    workers: dict[str, object]
    tracking_uri: str
    artifacts: Path

    @property
    def address(self) -> str:
        return self.ray.address

    def add_worker(self) -> None:
        """A worker node with 1 CPU and the worker resource."""
        node = self.ray.add_node(num_cpus=1, resources={WORKER_RESOURCE: 1})
        self.workers[node.node_id] = node

    def lose_worker(self, node_id: str) -> None:
        """Kill the worker node's raylet and its processes at once, as a machine failure would."""
        self.ray.remove_node(self.workers.pop(node_id), allow_graceful=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(
    condition: Callable[[], object], what: str, deadline_s: float = DEADLINE_S, interval_s: float = 0.5
) -> object:
    """Poll ``condition`` every ``interval_s`` until it returns something truthy; fail naming ``what`` after
    ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    pytest.fail(f"timed out waiting for {what}")


def _server_is_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def _mlflow_server(folder: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """Start ``mlflow server`` on 127.0.0.1 and a free port (sqlite store, proxied artifacts); stop it on exit."""
    port = _free_port()
    with (folder / "server.log").open("w") as log:
        server = subprocess.Popen(
            [
                sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
                "--artifacts-destination", str(folder / "artifacts"),
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            yield server, f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=60)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A head without CPUs (so it runs no trial), two worker nodes and an MLflow server, started side by side.

    A test that loses a worker replaces it.
    """
    import ray
    from ray.cluster_utils import Cluster as RayCluster

    folder = tmp_path_factory.mktemp("mlflow-server")
    with _mlflow_server(folder) as (server, url):
        ray_cluster = RayCluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": 0,
                "include_dashboard": False,
                # notice a lost node within seconds rather than Ray's default ~30 s
                "_system_config": {"health_check_period_ms": 1000, "health_check_failure_threshold": 5},
            },
        )
        try:
            running = Cluster(ray_cluster, {}, url, folder / "artifacts")
            running.add_worker()
            running.add_worker()
            ray_cluster.wait_for_nodes()
            _wait_for(lambda: _server_is_up(url) or server.poll() is not None, "the MLflow server to start")
            assert server.poll() is None, f"mlflow server exited: {(folder / 'server.log').read_text()[-2000:]}"
            yield running
        finally:
            ray.shutdown()  # an in-process CLI call may have joined the cluster
            ray_cluster.shutdown()


def _digits_npz(folder: Path) -> Path:
    """300 digits of classes 0-2 as an ``arrays`` dataset file."""
    digits = load_digits()
    keep = np.isin(digits.target, [0, 1, 2])
    images = np.rint(digits.images[keep][:300] * (255 / 16)).astype(np.uint8)
    path = folder / "digits3.npz"
    np.savez(path, x=images, y=digits.target[keep][:300])
    return path


def _write_spec(folder: Path, shared: Path, name: str, epochs: int, arms: str = ARMS) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(SPEC.format(
        name=name, root=_digits_npz(folder), epochs=epochs, cache=shared / "cache", arms=arms.format(),
        resource=WORKER_RESOURCE,
    ))
    return path


def _start_driver(cluster: Cluster, spec: Path, folder: Path, shared: Path) -> tuple[subprocess.Popen, Path]:
    """``dcsweep run SPEC --address <head> --tracking-uri <server> --storage <shared>`` in its own process."""
    log = folder / "driver.log"
    command = [
        sys.executable, "-c", "from orchestrator.cli import main; main()", "run", str(spec),
        "--workdir", str(folder / "driver"), "--address", cluster.address, "--tracking-uri", cluster.tracking_uri,
        "--storage", str(shared / "ray"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    driver = subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    return driver, log


def _wait_for_driver(driver: subprocess.Popen, log: Path) -> str:
    _wait_for(lambda: driver.poll() is not None, "the sweep to end")
    output = log.read_text()
    assert driver.returncode == 0, f"dcsweep run exited {driver.returncode}; its output ends:\n{output[-4000:]}"
    return output


def _runs(tracking_uri: str, sweep: str) -> tuple[MlflowClient, list, list]:
    """The sweep's (client, parent runs, child runs) on the tracking server; empty lists before it exists."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(f"dcsweep/{sweep}")
    if experiment is None:
        return client, [], []
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [run for run in runs if run.data.tags.get("dcsweep.role") == "sweep"]
    children = [run for run in runs if run.data.tags.get("dcsweep.role") == "trial"]
    return client, parents, children


def _epochs(client: MlflowClient, run) -> list[int]:
    return sorted(int(point.step) for point in client.get_metric_history(run.info.run_id, "acc"))


def test_sweep_runs_on_both_workers_with_one_run_per_trial_and_one_feature_fill(tmp_path: Path, cluster: Cluster) -> None:
    shared = tmp_path / "shared"
    epochs = 2
    spec = _write_spec(tmp_path, shared, "cluster_e2e", epochs)
    driver, log = _start_driver(cluster, spec, tmp_path, shared)
    output = _wait_for_driver(driver, log)
    assert "launched 6 trials, skipped 0 finished, 0 errored" in output

    client, parents, children = _runs(cluster.tracking_uri, "cluster_e2e")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 6 and len({run.data.tags["dcsweep.trial_key"] for run in children}) == 6
    nodes = {run.data.tags[NODE_ID] for run in children}
    assert nodes == set(cluster.workers), f"trials ran on {nodes}, the workers are {set(cluster.workers)}"
    for run in children:
        assert run.info.status == "FINISHED"
        assert _epochs(client, run) == list(range(1, epochs + 1))
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # uploaded through the server, not to a disk
    assert list(cluster.artifacts.rglob("predictions.npz")), "the server's artifact store has no predictions"

    features = list((shared / "cache").rglob("*.npy"))
    assert len(features) == 1, f"one dataset and one encoder should give one feature file, found {features}"
    assert not list((shared / "cache").rglob("*.tmp"))
    # written once by the driver before the sweep opened in MLflow, and never rewritten by a trial
    assert features[0].stat().st_mtime_ns // 1_000_000 <= parents[0].info.start_time
    assert any((shared / "ray" / "cluster_e2e").rglob("checkpoint_*")), "Ray's checkpoints are not in shared storage"


def _cli(argv: list[str]) -> int:
    """``dcsweep ARGV`` in this process (it joins the cluster, which the fixture leaves at the end); the exit code."""
    from orchestrator.cli import main

    try:
        main(argv)
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def test_doctor_lists_the_nodes_and_what_each_node_sees(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    import faiss

    assert _cli(["doctor", "--address", cluster.address]) == 0
    out = capsys.readouterr().out
    assert f"{cluster.address}: 3 nodes, 2 CPUs, 0 GPUs" in out
    node_lines = [line.split() for line in out.splitlines() if line.strip().startswith(("head ", "worker "))]
    assert sorted(line[0] for line in node_lines) == ["head", "worker", "worker"]
    expected_faiss = "yes" if faiss.get_num_gpus() > 0 else "no"  # every node runs on this machine
    for line in node_lines:
        text = " ".join(line)
        is_worker = any(node_id.startswith(line[1]) for node_id in cluster.workers)
        assert (line[0] == "worker") == is_worker
        assert (f"{WORKER_RESOURCE} 1" in text) == is_worker and f"CPU {int(is_worker)}" in text
        assert f"faiss GPU {expected_faiss}" in text


@pytest.mark.parametrize("options,needle", [
    (["--tracking-uri", "{server}"], "is a local folder"),
    (["--storage", "{shared}", "--tracking-uri", "sqlite:///{workdir}/mlflow.db"], "is local to this machine"),
])
def test_multi_node_cluster_refuses_local_storage_or_local_tracking(
    tmp_path: Path, cluster: Cluster, capsys: pytest.CaptureFixture[str], options: list[str], needle: str
) -> None:
    workdir = tmp_path / "work"
    spec = _write_spec(tmp_path, tmp_path / "shared", "refused", epochs=1)
    values = {"server": cluster.tracking_uri, "shared": tmp_path / "shared", "workdir": workdir}
    argv = ["run", str(spec), "--workdir", str(workdir), "--address", cluster.address]
    assert _cli(argv + [option.format(**values) for option in options]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: the cluster has 3 nodes") and needle in error and "\n" not in error
    assert not workdir.exists() and not (tmp_path / "shared").exists(), "a refused sweep must write nothing"
    assert MlflowClient(cluster.tracking_uri).get_experiment_by_name("dcsweep/refused") is None


def _trial_to_kill(cluster: Cluster, sweep: str, epochs: int):
    """A run on a worker node that has logged epoch 2 but not yet half its epochs, or None.

    Epoch 2 starts only after Tune took in the epoch-1 report, so the epoch-1 checkpoint is in shared storage. The
    half still ahead keeps it running until its node is lost: on a quiet fast box an epoch of this sweep takes
    0.15 s, and a trial picked 2 epochs from its end finished before its node went down.
    """
    _, _, children = _runs(cluster.tracking_uri, sweep)
    for run in children:
        epoch = int(run.data.tags.get(LAST_EPOCH, 0))
        if run.info.status == "RUNNING" and run.data.tags.get(NODE_ID) in cluster.workers and 2 <= epoch < epochs // 2:
            return run
    return None


def test_lost_worker_node_trials_continue_on_the_other_node_from_their_checkpoints(
    tmp_path: Path, cluster: Cluster
) -> None:
    from ray.tune import ExperimentAnalysis

    shared = tmp_path / "shared"
    epochs = 20
    arms = "  baseline: {{}}\n  ours: {{init.strategy: dachi, selection.strategy: dss}}\n  +DSS: {{selection.strategy: dss}}\n"
    spec = _write_spec(tmp_path, shared, "node_loss", epochs, arms=arms)
    driver, log = _start_driver(cluster, spec, tmp_path, shared)
    try:
        victim = _wait_for(  # polled often, and killed on the answer itself, so the victim is still running
            lambda: _trial_to_kill(cluster, "node_loss", epochs) or driver.poll() is not None,
            "a trial on a worker node to log its second epoch",
            interval_s=0.1,
        )
        assert victim is not True, f"the sweep ended before a node could be lost:\n{log.read_text()[-4000:]}"
        lost = victim.data.tags[NODE_ID]
        survivor = next(node for node in cluster.workers if node != lost)
        cluster.lose_worker(lost)
        output = _wait_for_driver(driver, log)
    finally:
        if driver.poll() is None:
            driver.kill()
        if len(cluster.workers) < 2:
            cluster.add_worker()
    assert "launched 3 trials, skipped 0 finished, 0 errored" in output

    client, parents, children = _runs(cluster.tracking_uri, "node_loss")
    assert len(parents) == 1 and len(children) == 3
    assert len({run.data.tags["dcsweep.trial_key"] for run in children}) == 3
    for run in children:
        assert run.info.status == "FINISHED"
        assert _epochs(client, run) == list(range(1, epochs + 1)), f"{run.info.run_name} has gaps or repeats"
    retried = next(run for run in children if run.info.run_id == victim.info.run_id)  # the same run, continued
    assert retried.data.tags[NODE_ID] == survivor

    analysis = ExperimentAnalysis(str(shared / "ray" / "node_loss"))
    assert [trial.status for trial in analysis.trials] == ["TERMINATED"] * 3
    failures = {trial.config["trial"]["key"]: trial.run_metadata.num_failures for trial in analysis.trials}
    assert failures[victim.data.tags["dcsweep.trial_key"]] >= 1
    for frame in analysis.trial_dataframes.values():
        reported = list(frame["epoch"])
        # a restore from a checkpoint, not a restart: epoch 1 reported once, every epoch up to the last reached
        assert reported.count(1) == 1 and set(reported) == set(range(1, epochs + 1))
