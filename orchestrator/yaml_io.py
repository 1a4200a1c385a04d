"""Strict YAML reading: a mapping with a duplicate key is an error, not a silent overwrite, and a document whose
aliases expand it beyond ``MAX_YAML_NODES`` nodes (an alias bomb) is refused before it is built."""

from __future__ import annotations

from typing import Any

import yaml

from trainables.errors import ConfigError

MAX_YAML_NODES = 100_000  # a spec has hundreds; "9 levels of 9 aliases" expands to 9**9


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


def expanded_size(root: yaml.Node, limit: int = MAX_YAML_NODES) -> int:
    """Nodes in the document once every alias is expanded, counted without expanding (shared nodes memoised).

    Raises:
        ConfigError: an alias refers to a node that contains it (a cycle).
    """
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in visiting:
            raise ConfigError("the YAML document has an alias that contains itself; remove the recursive alias")
        visiting.add(id(node))
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                break  # large enough to refuse; stop counting
        visiting.discard(id(node))
        sizes[id(node)] = total
        return total

    return size(root)


def load_yaml(text: str, source: str) -> dict[str, Any]:
    """Parse YAML text into a dict; ``source`` names the file in errors.

    Raises:
        ConfigError: the text is not valid YAML, is not a mapping, repeats a key, or expands (through aliases)
            beyond ``MAX_YAML_NODES`` nodes.
    """
    loader = _UniqueKeyLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None and expanded_size(root) > MAX_YAML_NODES:
            raise ConfigError(
                f"{source} expands to more than {MAX_YAML_NODES} YAML nodes (through aliases); a spec needs far "
                f"fewer, so remove the repeated aliases"
            )
        data = None if root is None else loader.construct_document(root)
    except yaml.YAMLError as error:
        raise ConfigError(f"{source} is not valid YAML ({' '.join(str(error).split())}); fix the syntax") from None
    except RecursionError:
        raise ConfigError(f"{source} nests too deeply to be a spec; flatten it") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must hold a YAML mapping with keys name, base, arms, seeds, ...")
    return data


def dump_yaml(data: dict[str, Any]) -> str:
    """A dict as block-style YAML, keys in insertion order."""
    return yaml.safe_dump(data, sort_keys=False)
