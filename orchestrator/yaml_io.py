"""Strict YAML reading: a mapping with a duplicate key is an error, not a silent overwrite."""

from __future__ import annotations

from typing import Any

import yaml

from trainables.errors import ConfigError


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader whose mappings reject repeated keys (PyYAML keeps the last one by default)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            line = key_node.start_mark.line + 1
            raise ConfigError(f"key {key!r} appears twice (line {line}); give each key, e.g. each arm, a unique name")
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_yaml(text: str, source: str) -> dict[str, Any]:
    """Parse YAML text into a dict; ``source`` names the file in errors.

    Raises:
        ConfigError: the text is not valid YAML, is not a mapping, or repeats a key.
    """
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as error:
        raise ConfigError(f"{source} is not valid YAML ({' '.join(str(error).split())}); fix the syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must hold a YAML mapping with keys name, base, arms, seeds, ...")
    return data


def dump_yaml(data: dict[str, Any]) -> str:
    """A dict as block-style YAML, keys in insertion order."""
    return yaml.safe_dump(data, sort_keys=False)
