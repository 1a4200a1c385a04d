"""``dcsweep doctor``: what this machine offers a sweep (library versions, GPUs, faiss-GPU, datasets on disk), and
with ``--address`` what each node of a Ray cluster offers (CPUs, GPUs, custom resources, GPUs torch and faiss see)."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Annotated, Optional

import typer

from orchestrator.cli_app import app
from orchestrator.options import DEFAULT_WORKDIR, WorkdirOption

LIBRARIES = ("torch", "torchvision", "ray", "faiss", "mlflow", "optuna")
HIDDEN_RESOURCES = ("memory", "object_store_memory")  # Ray's byte counts; not what a spec asks for
DISTRIBUTIONS = {"faiss": ("faiss-gpu", "faiss-cpu", "faiss-gpu-cu12", "faiss-gpu-cu11")}


def library_version(name: str) -> str:
    """Installed version of ``name`` (trying its distribution names), or 'not installed'."""
    for distribution in DISTRIBUTIONS.get(name, (name,)):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def gpu_summary() -> str:
    """The CUDA GPUs torch sees, or that there are none."""
    import torch

    if not torch.cuda.is_available():
        return "none visible (trials run on CPU)"
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return f"{len(names)} visible ({', '.join(names)})"


def faiss_gpu_summary() -> str:
    """Whether faiss can place indexes on a GPU."""
    try:
        import faiss
    except ImportError:
        return "faiss not installed"
    count = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    return f"yes ({count} GPUs)" if count > 0 else "no (CPU indexes)"


def dataset_roots() -> list[tuple[str, str]]:
    """(dataset, where it is found) for each registered dataset, looking under ``$DCSWEEP_DATA/<name>``."""
    from trainables.data import DATASETS
    from trainables.data.base import DATA_ENV

    base = os.environ.get(DATA_ENV)
    rows = []
    for name in DATASETS:
        spec = DATASETS.get(name)
        if not spec.needs_root:
            rows.append((name, "bundled, no files needed"))
            continue
        root = Path(base).expanduser() / name if base else None
        if root is not None and root.is_dir():
            rows.append((name, f"found at {root}"))
        else:
            rows.append((name, f"not found; pass dataset.root or place it at ${DATA_ENV}/{name}"))
    return rows


def node_accelerators() -> str:
    """What a node's own torch and faiss see; run on each node of a cluster by ``doctor --address``."""
    return f"GPU {gpu_summary()}; faiss GPU {faiss_gpu_summary()}"


def cluster_lines(address: str) -> list[str]:
    """A summary line for the cluster at ``address`` and one line per alive node (ConfigError if unreachable)."""
    from orchestrator.cluster import describe_cluster

    nodes = describe_cluster(address, node_accelerators)
    cpus = sum(node.resources.get("CPU", 0) for node in nodes)
    gpus = sum(node.resources.get("GPU", 0) for node in nodes)
    lines = [f"{'cluster':<12} {address}: {len(nodes)} nodes, {cpus:g} CPUs, {gpus:g} GPUs"]
    for node in nodes:
        shown = {"CPU": 0, "GPU": 0, **node.resources}
        resources = "  ".join(f"{name} {amount:g}" for name, amount in shown.items() if name not in HIDDEN_RESOURCES)
        role = "head" if node.is_head else "worker"
        lines.append(f"  {role:<6} {node.node_id[:12]} {node.ip:<15} {resources} | {node.probe}")
    return lines


@app.command("doctor")
def doctor(
    address: Annotated[
        Optional[str],  # noqa: UP007 (typer needs Optional here)
        typer.Option("--address", help="Also list the nodes of this Ray cluster and what each one's GPUs and faiss offer."),
    ] = None,
    workdir: WorkdirOption = DEFAULT_WORKDIR,
) -> None:
    """Print library versions, visible GPUs, faiss-GPU support, the dataset roots that exist and the workdir;
    with --address, the cluster's nodes."""
    for name in LIBRARIES:
        typer.echo(f"{name:<12} {library_version(name)}")
    typer.echo(f"{'GPU':<12} {gpu_summary()}")
    typer.echo(f"{'faiss GPU':<12} {faiss_gpu_summary()}")
    from trainables.data.base import DATA_ENV

    base = os.environ.get(DATA_ENV)
    state = "not set" if not base else (f"{base} (exists)" if Path(base).expanduser().is_dir() else f"{base} (missing)")
    typer.echo(f"{DATA_ENV:<12} {state}")
    for name, where in dataset_roots():
        typer.echo(f"  {name:<14} {where}")
    typer.echo(f"{'workdir':<12} {workdir_summary(workdir)}")
    if address is not None:
        for line in cluster_lines(address):
            typer.echo(line)


def workdir_summary(workdir: Path) -> str:
    """Where the workdir is and whether it holds a tracking database and pre-trained encoders."""
    root = workdir.resolve()
    if not root.is_dir():
        return f"{root} (not created yet)"
    encoders = sorted(path.name for path in (root / "encoders").glob("*.ckpt"))
    database = "mlflow.db present" if (root / "mlflow.db").is_file() else "no mlflow.db yet"
    return f"{root} ({database}; encoders: {', '.join(encoders) or 'none'})"
