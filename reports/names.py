"""How run attributes are shown to a reader: ``method.name`` as "Method", ``scan`` as "SCAN", ``cifar10`` as
"CIFAR-10", a dataset path as the part of it that tells the sweep's paths apart; and in which order values come.

Reports read MLflow data only, so the display names of the registered methods and datasets live here as data.
A name that is not listed is shown as it is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from reports.grouping import label

KEY_LABELS = {
    "method.name": "Method",
    "arm": "Arm",
    "dataset.name": "Dataset",
    "dataset.root": "Dataset",
    "seed": "Seed",
    "init.alpha": "α",
    "init.k": "k",
    "selection.epsilon": "ε",
}
"""Header of a run attribute; unlisted attributes show their last dotted part."""

VALUE_LABELS = {
    "method.name": {"scan": "SCAN", "cdc": "CDC", "cc": "CC", "tcl": "TCL"},
    "dataset.name": {
        "cifar10": "CIFAR-10",
        "cifar20": "CIFAR-20",
        "stl10": "STL-10",
        "imagenet10": "ImageNet-10",
        "imagenet_dogs": "ImageNet-Dogs",
        "tiny_imagenet": "Tiny-ImageNet",
        "digits": "Digits",
        "coil20": "COIL-20",
        "mnist": "MNIST",
        "arrays": "Arrays",
        "image_folder": "Image folder",
    },
}
"""Display name of a value of a run attribute."""

PATH_KEYS = frozenset({"dataset.root"})
"""Attributes whose values are file paths; they are shown by the part that tells them apart (see ``path_labels``)."""


def key_label(key: str) -> str:
    """``method.name`` -> ``Method``; an unlisted key -> its last dotted part (``train.lr`` -> ``lr``)."""
    return KEY_LABELS.get(key, key.rsplit(".", 1)[-1])


def value_labels(key: str, values: Iterable[Any]) -> dict[Any, str]:
    """The display name of each of ``values`` of attribute ``key``, e.g. ``{"scan": "SCAN", 0.1: "0.1"}``."""
    values = list(dict.fromkeys(values))
    if key in PATH_KEYS:
        texts = [v for v in values if isinstance(v, str)]
        return {**{v: label(v) for v in values}, **path_labels(texts)}
    names = VALUE_LABELS.get(key, {})
    return {v: names.get(v, label(v)) if isinstance(v, str) else label(v) for v in values}


def path_labels(paths: list[str]) -> dict[str, str]:
    """A short, distinct label per path: the parts left after dropping the parts all paths share at either end.

    ``[".../cnae9/data.csv", ".../semeion/data.csv"]`` -> ``cnae9``, ``semeion``; ``[".../a.csv", ".../b.csv"]``
    -> ``a``, ``b``; a single path -> its file stem. Paths that no such cut tells apart are shown whole.
    """
    parts = [list(PurePosixPath(p).with_suffix("").parts) for p in paths]
    if len(parts) == 1:
        return {paths[0]: parts[0][-1] if parts[0] else paths[0]}
    head = _shared_length(parts)
    tail = _shared_length([list(reversed(p)) for p in parts])
    labels = {}
    for path, split in zip(paths, parts, strict=True):
        middle = split[head : max(head, len(split) - tail)] or split[-1:]
        labels[path] = "/".join(middle)
    return labels if len(set(labels.values())) == len(paths) else {p: p for p in paths}


def dataset_names(attrs: dict[str, Any]) -> list[str]:
    """The names a cell's dataset goes by, most specific first: its ``dataset.name``, then for a dataset given by
    path the file stem and each folder of ``dataset.root`` from the innermost (``.../cnae9/data.csv``: ``data``,
    ``cnae9``, ...)."""
    names = [str(attrs["dataset.name"])] if "dataset.name" in attrs else []
    root = attrs.get("dataset.root")
    if isinstance(root, str):
        names += reversed(PurePosixPath(root).with_suffix("").parts)
    return names


def value_order(spec: dict[str, Any], key: str, present: Iterable[Any]) -> list[Any]:
    """The values of ``key`` in the spec's order: arms as listed under ``arms``, grid values as listed under
    ``grid`` (directly or inside a named group of settings), then the rest (numbers ascending, then text)."""
    present = list(dict.fromkeys(present))
    listed = list(spec.get("arms") or []) if key == "arm" else _grid_values(spec.get("grid") or {}, key)
    ordered = [v for v in listed if v in present]
    rest = [v for v in present if v not in ordered]
    numbers = sorted(v for v in rest if _is_number(v))
    return [*ordered, *numbers, *sorted((v for v in rest if not _is_number(v)), key=str)]


def _grid_values(grid: dict[str, Any], key: str) -> list[Any]:
    values = []
    for name, options in grid.items():
        for option in options if isinstance(options, list) else []:
            if isinstance(option, dict) and key in option:
                values.append(option[key])
            elif name == key:
                values.append(option)
    return values


def _shared_length(parts: list[list[str]]) -> int:
    shortest = min(len(p) for p in parts)
    return next((i for i in range(shortest) if len({p[i] for p in parts}) > 1), shortest)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
