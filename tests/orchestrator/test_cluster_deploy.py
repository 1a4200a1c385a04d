"""The shipped cluster files: Ray's launcher accepts the AWS YAML, and both YAMLs give dcsweep what it relies on
(a head that runs no trials, GPU workers, one shared folder on every node, an MLflow server the workers reach,
the Ray version dcsweep is tested with)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import ray
import yaml

import orchestrator

DEPLOY = Path(orchestrator.__file__).parent / "deploy"
README = DEPLOY.parents[1] / "README.md"
SHARED = "/shared"
MLFLOW_PORT = 5000


def _load(name: str) -> list[dict]:
    return list(yaml.safe_load_all((DEPLOY / name).read_text()))


@pytest.fixture(scope="module")
def launcher() -> dict:
    (config,) = _load("ray-cluster-aws.yaml")
    return config


@pytest.fixture(scope="module")
def kuberay() -> dict[str, dict]:
    return {document["kind"]: document for document in _load("raycluster-kuberay.yaml")}


def test_ray_up_accepts_the_aws_launcher_yaml(launcher: dict) -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(copy.deepcopy(launcher)))  # what `ray up` checks before it calls AWS

    broken = copy.deepcopy(launcher)
    broken["available_node_types"]["gpu_worker"]["min_worker"] = 1  # a misspelt key must not pass unnoticed
    with pytest.raises(Exception, match="min_worker"):
        validate_config(prepare_config(broken))


def test_launcher_yaml_gives_gpu_workers_a_shared_folder_and_a_tracking_server(launcher: dict) -> None:
    types = launcher["available_node_types"]
    head = types[launcher["head_node_type"]]
    workers = [spec for name, spec in types.items() if name != launcher["head_node_type"]]
    assert head["resources"] == {"CPU": 0}, "the head must run no trials"
    assert workers and all(spec["max_workers"] >= 1 for spec in workers)
    assert all(re.match(r"(g|p)\d", spec["node_config"]["InstanceType"]) for spec in workers), "GPU instances"
    assert launcher["docker"]["image"] == f"rayproject/ray:{ray.__version__}-py311-gpu"
    assert any(option.endswith(f":{SHARED}") for option in launcher["docker"]["run_options"])
    server = " ".join(command for command in launcher["head_start_ray_commands"] if "mlflow server" in command)
    assert f"--host 0.0.0.0 --port {MLFLOW_PORT}" in server and f"{SHARED}/mlflow/artifacts" in server
    assert any("pip install" in command and "/home/ray/dcsweep" in command for command in launcher["setup_commands"])


def _containers(spec: dict) -> dict[str, dict]:
    return {container["name"]: container for container in spec["template"]["spec"]["containers"]}


def test_kuberay_cluster_gives_gpu_workers_a_shared_claim_and_a_tracking_service(kuberay: dict[str, dict]) -> None:
    cluster = kuberay["RayCluster"]
    assert cluster["apiVersion"] == "ray.io/v1" and cluster["spec"]["rayVersion"] == ray.__version__
    head = cluster["spec"]["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0", "the head must run no trials"
    groups = cluster["spec"]["workerGroupSpecs"]
    assert groups and all(group["maxReplicas"] >= 1 for group in groups)
    claim = kuberay["PersistentVolumeClaim"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    pods = [head, *groups]
    images = set()
    for pod in pods:
        volumes = {volume["name"]: volume for volume in pod["template"]["spec"]["volumes"]}
        for container in _containers(pod).values():
            images.add(container["image"])
            (mount,) = [mount for mount in container["volumeMounts"] if mount["mountPath"] == SHARED]
            assert volumes[mount["name"]]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert len(images) == 1, "head, workers and the MLflow server run the one dcsweep image"
    for group in groups:
        (worker,) = _containers(group).values()
        assert worker["resources"]["limits"]["nvidia.com/gpu"] >= 1

    service = kuberay["Service"]
    assert service["spec"]["selector"] == {"ray.io/cluster": cluster["metadata"]["name"], "ray.io/node-type": "head"}
    mlflow = _containers(head)["mlflow"]
    assert [port["containerPort"] for port in mlflow["ports"]] == [service["spec"]["ports"][0]["targetPort"]] == [MLFLOW_PORT]
    assert f"{service['metadata']['name']}:*" in " ".join(mlflow["args"]), "the server must accept its service name"


def test_dockerfile_builds_on_the_launcher_image() -> None:
    (config,) = _load("ray-cluster-aws.yaml")
    assert f"FROM {config['docker']['image']}" in (DEPLOY / "Dockerfile").read_text().splitlines()


def test_readme_names_both_files_and_a_run_line_for_each() -> None:
    readme = README.read_text()
    section = readme.split("## From a laptop to a cluster\n", 1)[1].split("\n## ", 1)[0]
    for name in ("ray-cluster-aws.yaml", "raycluster-kuberay.yaml"):
        assert f"orchestrator/deploy/{name}" in section
    runs = [line for line in section.splitlines() if "dcsweep run " in line and "--address" in line]
    assert len(runs) >= 2 and all(f"--storage {SHARED}/ray" in line for line in runs)
