"""Expansion of a SweepSpec into trials (grid x arms x seeds), each validated as a TrialConfig before Ray starts."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import json
import types
import typing
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from orchestrator.sweep_spec import SearchSpec, SweepSpec
from trainables.config import MethodConfig, Section, TrialConfig, flatten, parse_trial_config
from trainables.errors import ConfigError
from trainables.validation import validate_trial_config

FREE_DICT_KEYS = ("dataset.options", "method.params")
SEED_KEY = "train.seed"
ARM_KEY = "arm"  # in an ``exclude`` rule: the arm's name
DATASET_KEY = "dataset.name"
CACHE_KEY = "cache_dir"
RESOLVED = "resolved"  # in a trial's Ray config: the canonical flat form of its validated TrialConfig
DEFAULT_METHOD = MethodConfig.model_fields["name"].default
NUMERIC = (int, float)


@dataclass(frozen=True)
class PlannedTrial:
    """One trial of a sweep: readable name, ablation arm, seed, idempotence key and its flat dotted overrides.

    ``config`` holds the spec's overrides that make this trial (what names and grids refer to). ``resolved`` is
    the TrialConfig the planner validated, once; its canonical flat form (every key, JSON values) is what travels
    to Ray (``RESOLVED``) and is logged to MLflow. Rebuilt from Ray's dict, ``resolved`` is that flat form, parsed
    against the schema on first use of ``trial_config`` and not validated again.
    """

    name: str
    arm: str
    seed: int
    key: str
    config: dict[str, Any]
    resolved: TrialConfig | dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @cached_property
    def trial_config(self) -> TrialConfig:
        """The resolved TrialConfig of this trial (rebuilt at most once per object)."""
        if isinstance(self.resolved, TrialConfig):
            return self.resolved
        return parse_trial_config(self.resolved if self.resolved is not None else self.config)

    def as_tune_config(self) -> dict[str, Any]:
        """The value Ray Tune passes to the trainable (see ``orchestrator.tracked_trial``)."""
        return {
            "name": self.name, "arm": self.arm, "seed": self.seed, "key": self.key, "config": self.config,
            RESOLVED: flatten(self.trial_config),
        }


def resolved_trial(name: str, arm: str, overrides: dict[str, Any], config: TrialConfig) -> PlannedTrial:
    """The PlannedTrial of ``overrides`` once validated into ``config``: its key and seed come from ``config``."""
    return PlannedTrial(name=name, arm=arm, seed=config.train.seed, key=trial_key(config), config=overrides, resolved=config)


def plan_trials(spec: SweepSpec, workdir: Path) -> list[PlannedTrial]:
    """Expand ``grid x arms x seeds`` into validated trials with unique readable names.

    Example: a spec with arms {baseline, ours}, seeds [0, 1] and ``method.name: cdc`` gives
    ``cdc/baseline/seed0``, ``cdc/baseline/seed1``, ``cdc/ours/seed0``, ``cdc/ours/seed1``.

    Trials are keyed by their resolved TrialConfig (see ``trial_key``), so two that resolve to the same config
    would share one MLflow run; they are refused.

    Raises:
        ConfigError: a key is unknown, a trial's config is invalid (the message names the trial and the key), or
            two trials resolve to the same config (the message names both).
    """
    base = base_config(spec, workdir)
    axes = [_grid_axis(key, values) for key, values in spec.grid.items()]
    trials: list[PlannedTrial] = []
    names_by_key: dict[str, str] = {}
    used_rules: set[int] = set()
    for arm, overrides in spec.arms.items():
        arm_flat = _flat_overrides(overrides, where=f"arms.{arm}")
        for combo in itertools.product(*axes):
            grid_flat = {key: value for _, point in combo for key, value in point.items()}
            labels = [label for label, _ in combo if label]
            for seed in spec.seeds:
                config = {**base, **grid_flat, **arm_flat, SEED_KEY: seed}
                matched = _matching_rules(spec.exclude, {**config, ARM_KEY: arm})
                if matched:
                    used_rules.update(matched)
                    continue
                name = "/".join([str(config.get("method.name", DEFAULT_METHOD)), arm, *labels, f"seed{seed}"])
                trial = resolved_trial(name, arm, config, validate_trial_config(config, context=f"trial {name}"))
                if trial.key in names_by_key:
                    raise ConfigError(_same_config_message(names_by_key[trial.key], name))
                names_by_key[trial.key] = name
                trials.append(trial)
    unused = [index for index in range(len(spec.exclude)) if index not in used_rules]
    if unused:
        raise ConfigError(
            f"exclude[{unused[0]}] {spec.exclude[unused[0]]} matches no trial; check its keys and values or remove it"
        )
    return with_dataset_names(trials)


def _matching_rules(rules: list[dict[str, Any]], values: dict[str, Any]) -> list[int]:
    """Indices of the ``exclude`` rules whose every key has the trial's value (``arm`` included)."""
    return [
        index for index, rule in enumerate(rules)
        if all(key in values and values[key] == value for key, value in rule.items())
    ]


def with_dataset_names(trials: list[PlannedTrial]) -> list[PlannedTrial]:
    """When a sweep spans several datasets, each trial name carries its dataset before the seed.

    Example: ``cdc/ours/variant=0/seed2`` -> ``cdc/ours/variant=0/coil20/seed2``; a name that already holds the
    dataset (a grid labelled by it, ``cdc/ours/digits/seed2``) is kept.
    """
    if len({trial.config.get(DATASET_KEY) for trial in trials}) < 2:
        return trials
    renamed = []
    for trial in trials:
        parts = trial.name.split("/")
        dataset = str(trial.config.get(DATASET_KEY))
        if dataset not in parts:
            parts.insert(len(parts) - 1, dataset)
        renamed.append(dataclasses.replace(trial, name="/".join(parts)))
    return renamed


def _same_config_message(first: str, second: str) -> str:
    if first == second:
        return f"trial {first} appears twice: a grid list repeats a value; remove the repeated grid value"
    return (
        f"trials {first} and {second} resolve to the same config and would share one MLflow run; "
        f"remove one of the two arms or grid values, or make them differ"
    )


def base_config(spec: SweepSpec, workdir: Path) -> dict[str, Any]:
    """The flat ``base`` fragment, with the feature cache in ``<workdir>/cache`` unless the spec sets it."""
    flat = {CACHE_KEY: str(workdir.resolve() / "cache")}
    flat.update(_flat_overrides(spec.base, where="base"))
    return flat


def plan_search(spec: SweepSpec, workdir: Path) -> tuple[str, dict[str, Any]]:
    """Check a search spec; returns its arm and the fixed flat config (base + arm, first seed).

    Raises:
        ConfigError: no search section, a grid or several arms, an unsupported combination, a bad space or config.
    """
    if spec.search is None:
        raise ConfigError(f"spec {spec.name!r} has no 'search' section; add one or launch it with `dcsweep run`")
    if len(spec.seeds) > 1 and spec.search.scheduler == "asha":
        raise ConfigError("search.scheduler asha cannot be combined with several seeds; keep one seed or use scheduler none")
    if len(spec.seeds) > 1 and len(spec.search.metrics) > 1:
        raise ConfigError("a multi-objective search (several search.metrics) takes one seed; keep one seed")
    arm, fixed = _single_arm_config(spec, workdir)
    fixed = {**fixed, SEED_KEY: spec.seeds[0]}
    validate_trial_config(fixed, context=f"arms.{arm}")
    validate_search_space(spec.search, fixed)
    return arm, fixed


def _single_arm_config(spec: SweepSpec, workdir: Path) -> tuple[str, dict[str, Any]]:
    """A search's fixed config: base plus its one arm; raises ConfigError for a grid or several arms."""
    if spec.grid:
        raise ConfigError("a spec with 'search' cannot also have a 'grid'; move the grid keys into search.space")
    if len(spec.arms) != 1:
        raise ConfigError(f"a spec with 'search' takes one arm, but got {len(spec.arms)} ({', '.join(spec.arms)}); keep one")
    arm, overrides = next(iter(spec.arms.items()))
    return arm, {**base_config(spec, workdir), **_flat_overrides(overrides, where=f"arms.{arm}")}


def validate_search_space(search: SearchSpec, fixed: dict[str, Any]) -> None:
    """Check every searched key exists, numeric ranges sit on numeric keys, and the bounds/choices are valid.

    Raises:
        ConfigError: naming ``search.space.<key>``.
    """
    annotations = config_keys()
    for key, param in search.space.items():
        where = f"search.space.{key}"
        check_key(key, where=where)
        if key == SEED_KEY:
            raise ConfigError(f"{where}: the seed cannot be searched; list seeds under 'seeds' instead")
        if param.is_numeric and key in annotations and not _is_numeric(annotations[key]):
            raise ConfigError(
                f"{where}: a {param.type} range needs a numeric key, but {key} is not numeric; use type: categorical"
            )
        values = param.choices if param.choices is not None else [_typed(param.low, param.type), _typed(param.high, param.type)]
        for value in values:
            validate_trial_config({**fixed, key: value}, context=where)


def check_key(key: str, where: str) -> None:
    """Raise ConfigError unless ``key`` is a TrialConfig dotted key (or inside a free dict such as method.params)."""
    if key in config_keys() or any(key.startswith(f"{free}.") for free in FREE_DICT_KEYS):
        return
    close = difflib.get_close_matches(key, list(config_keys()), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "see trainables/config.py for the keys"
    raise ConfigError(f"{where}: unknown config key {key!r}; {hint}")


def config_keys(model: type[BaseModel] = TrialConfig, prefix: str = "") -> dict[str, Any]:
    """Every dotted TrialConfig key mapped to its type annotation."""
    keys: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            keys.update(config_keys(annotation, prefix=f"{prefix}{name}."))
        else:
            keys[f"{prefix}{name}"] = annotation
    return keys


def trial_key(config: TrialConfig | dict[str, Any]) -> str:
    """A trial's identity: ``<hash12>-s<seed>``, the hash of its resolved TrialConfig without seed and cache folder.

    The hash is of canonical JSON (sorted keys, whole floats written as ints), so ``2`` and ``2.0`` are one trial.
    A flat dotted dict is validated into a TrialConfig first (raises ConfigError when invalid).
    """
    resolved = config if isinstance(config, TrialConfig) else parse_trial_config(config)
    rest = {key: value for key, value in flatten(resolved).items() if key not in (SEED_KEY, CACHE_KEY)}
    canonical = json.dumps(_canonical(rest), sort_keys=True, separators=(",", ":"), default=str)
    return f"{hashlib.sha1(canonical.encode()).hexdigest()[:12]}-s{resolved.train.seed}"


def _canonical(value: Any) -> Any:
    """``value`` with whole floats as ints, inside dicts and lists too (equal values, one spelling)."""
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _flat_overrides(fragment: dict[str, Any], where: str) -> dict[str, Any]:
    """Nested and/or dotted overrides -> flat dotted keys, each key checked."""
    flat = flatten(fragment)
    for key in flat:
        check_key(key, where=f"{where}.{key}")
    return flat


def _grid_axis(key: str, values: list[Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """One grid axis as (name label, flat overrides) points.

    A config key takes plain values (``selection.epsilon: [0.1, 0.2]``). Any other key takes bundles: dicts of
    overrides applied together (``variant: [{method.name: cdc, init.strategy: prototype}, {method.name: scan}]``);
    a bundle is labelled by the value of its first key when those tell the bundles apart (no label when that key
    is ``method.name``, already the name's prefix), else by ``<key>=<index>``.
    """
    if key in config_keys() or any(key.startswith(f"{free}.") for free in FREE_DICT_KEYS):
        label = None if key == "method.name" else key
        return [(label and f"{label}={str(value).replace('/', '_')}", {key: value}) for value in values]
    if not all(isinstance(value, dict) for value in values):
        check_key(key, where=f"grid.{key}")
    bundles = [_flat_overrides(value, where=f"grid.{key}[{index}]") for index, value in enumerate(values)]
    first_keys = {next(iter(bundle), None) for bundle in bundles}
    first = first_keys.pop() if len(first_keys) == 1 else None
    firsts = [str(bundle[first]).replace("/", "_") for bundle in bundles] if first else []
    if first and len(set(firsts)) == len(firsts):
        return [(None if first == "method.name" else value, bundle) for value, bundle in zip(firsts, bundles)]
    return [(f"{key}={index}", bundle) for index, bundle in enumerate(bundles)]


def _is_numeric(annotation: Any) -> bool:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return bool(members) and all(_is_numeric(arg) for arg in members)
    return isinstance(annotation, type) and issubclass(annotation, NUMERIC) and annotation is not bool


def _typed(value: float | None, kind: str) -> float | int | None:
    return int(value) if kind == "int" and value is not None else value
