"""SweepSpec: the YAML file that describes a campaign (design.md, Core objects), and how it is loaded.

A spec is found by path or by the name of a shipped spec (``quickstart``, ``paper/table3_ablation`` ->
``search_spaces/<name>.yaml``). String values may contain ``${workdir}`` (the sweep's work directory) and
``${data}`` (the data root: ``$DCSWEEP_DATA`` if set, else ``<workdir>/data``); they are substituted before
validation. ``extends: <spec name or path>`` starts from another spec (e.g. a shared fragment such as
``paper/_base``, whose name starts with ``_`` because it is not a sweep by itself) and deep-merges this file
over it, so that specs are overrides, not copies. ``bundles`` names groups of overrides once (e.g. one per
dataset in ``paper/_base``); a grid axis named after a group lists bundle names. Structural validation happens here; expanding the trials and checking each TrialConfig is
``orchestrator.plan``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError, field_validator, model_validator

import search_spaces
from orchestrator.yaml_io import load_yaml
from reports.schema import ReportSpec
from trainables.errors import ConfigError, describe_validation_error
from trainables.metric_names import LABEL_METRICS, METRIC_KEYS

SHIPPED_SPECS = Path(search_spaces.__file__).parent
SWEEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # used with fullmatch: "abc\n" is refused
ARM_NAME = re.compile(r"[A-Za-z0-9+][A-Za-z0-9_.+ -]*(?<![ .])")  # e.g. "+DACHI", "random-10", "+K-Means init"
MAX_SEED = 2**32  # numpy and torch seeds are 32-bit
DEFAULT_MAX_TRIALS = 10_000
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Resources(_Strict):
    """Per-trial resources and the sweep's concurrency and retry policy."""

    cpu: float = Field(default=1.0, gt=0)
    gpu: float = Field(default=0.0, ge=0)
    max_concurrent: int | None = Field(default=None, ge=1)
    max_failures: int = Field(default=2, ge=0)
    custom: dict[str, PositiveFloat] = Field(default_factory=dict)  # Ray custom resources, e.g. {gpu_a100: 1}

    @field_validator("gpu")
    @classmethod
    def _whole_above_one(cls, value: float) -> float:
        if value > 1 and not float(value).is_integer():
            raise ValueError(f"must be a fraction <= 1 or a whole number of GPUs, but got {value}")
        return value

    def per_trial(self) -> dict[str, float]:
        """What one trial asks Ray for: ``{"cpu": .., "gpu": .., **custom}``."""
        return {"cpu": self.cpu, "gpu": self.gpu, **self.custom}


class SearchParam(_Strict):
    """One searched key: a numeric range (``float``, ``int``, ``loguniform``) or ``categorical`` choices."""

    type: Literal["float", "int", "loguniform", "categorical"]
    low: float | None = None
    high: float | None = None
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _bounds_or_choices(self) -> SearchParam:
        if self.type == "categorical":
            if not self.choices or self.low is not None or self.high is not None:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list and no low/high")
            return self
        if self.low is None or self.high is None or self.choices is not None:
            raise ValueError(f"a {self.type} parameter needs 'low' and 'high' and no 'choices'")
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"low < high must hold, but got (low={self.low}, high={self.high})")
        if self.type == "loguniform" and self.low <= 0:
            raise ValueError(f"a loguniform parameter needs low > 0, but got low={self.low}")
        return self

    @property
    def is_numeric(self) -> bool:
        return self.type != "categorical"


class SearchSpec(_Strict):
    """An Optuna search over ``space``; several metrics (with one mode each) make it multi-objective.

    ``label_free: true`` refuses metrics computed from ground-truth labels, for users who must not tune on them
    (use e.g. ``metrics: [loss]``).
    """

    space: dict[str, SearchParam] = Field(min_length=1)
    algorithm: Literal["optuna-tpe"] = "optuna-tpe"
    num_samples: int = Field(default=10, ge=1)
    scheduler: Literal["none", "asha"] = "none"
    metrics: list[str] = Field(default_factory=lambda: ["acc"], min_length=1)
    modes: list[Literal["min", "max"]] = Field(default_factory=lambda: ["max"], min_length=1)
    label_free: bool = False
    seed: int | None = None

    @model_validator(mode="after")
    def _objectives_consistent(self) -> SearchSpec:
        if len(self.metrics) != len(self.modes):
            raise ValueError(f"modes needs one entry per metric, but got {len(self.metrics)} metrics and {len(self.modes)} modes")
        for metric in self.metrics:
            if metric not in METRIC_KEYS:
                raise ValueError(f"metrics lists unknown metric {metric!r}; choose from {', '.join(METRIC_KEYS)}")
            if self.label_free and metric in LABEL_METRICS:
                raise ValueError(f"metrics lists {metric!r}, which uses labels, but label_free is true; use e.g. 'loss'")
        if self.scheduler == "asha" and len(self.metrics) > 1:
            raise ValueError("scheduler asha needs a single metric; set scheduler: none or keep one metric")
        return self


class SweepSpec(_Strict):
    """A campaign: ``base`` TrialConfig fragment, ``grid`` (cartesian), ``arms`` (overrides), ``seeds``.

    ``exclude`` drops the combinations that match a rule, e.g. ``{method.name: cdc, arm: prototype}`` (the key
    ``arm`` names an arm, every other key a dotted config key); each rule must match some trial.

    Limits checked here, before anything is expanded: ``grid x arms x seeds`` at most ``max_trials`` trials
    (default 10,000; raise it in the spec for a larger campaign), seeds are ints in [0, 2**32) (no strings or
    booleans), and the name and arm names are single clean tokens (they name folders, runs and trials).
    """

    name: str
    base: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    arms: dict[str, dict[str, Any]] = Field(default_factory=lambda: {"base": {}}, min_length=1)
    exclude: list[dict[str, Any]] = Field(default_factory=list)
    seeds: list[Annotated[int, Field(strict=True, ge=0, lt=MAX_SEED)]] = Field(default_factory=lambda: [0], min_length=1)
    max_trials: int = Field(default=DEFAULT_MAX_TRIALS, ge=1)
    resources: Resources = Field(default_factory=Resources)
    search: SearchSpec | None = None
    report: ReportSpec = Field(default_factory=ReportSpec)

    @field_validator("name")
    @classmethod
    def _name_is_a_folder_name(cls, value: str) -> str:
        if not SWEEP_NAME.fullmatch(value):
            raise ValueError(f"must be letters, digits, '_', '.' or '-' (it names folders), but got {value!r}")
        return value

    @field_validator("arms")
    @classmethod
    def _arm_names_are_tokens(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for arm in value:
            if not ARM_NAME.fullmatch(arm):
                raise ValueError(
                    f"arm name {arm!r} must start with a letter, digit or '+' and hold only letters, digits, spaces "
                    f"and '_.+-' (it names trials and folders); rename the arm"
                )
        return value

    @field_validator("grid")
    @classmethod
    def _grid_lists_non_empty(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            if not values:
                raise ValueError(f"grid key {key!r} has an empty list; give at least one value")
        return value

    @field_validator("seeds")
    @classmethod
    def _seeds_unique(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError(f"seeds must be distinct, but got {value}")
        return value

    @model_validator(mode="after")
    def _expansion_within_limit(self) -> SweepSpec:
        if self.trial_count() > self.max_trials:
            raise ValueError(
                f"expands to {self.trial_count()} trials (grid x arms x seeds), more than max_trials = "
                f"{self.max_trials}; shrink the grid or raise max_trials"
            )
        return self

    def trial_count(self) -> int:
        """Trials ``grid x arms x seeds`` would expand to, computed without expanding."""
        return math.prod(len(values) for values in self.grid.values()) * len(self.arms) * len(self.seeds)

    def spec_hash(self) -> str:
        """A short content hash of the resolved spec."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def shipped_spec_names() -> list[str]:
    """Names of the specs shipped in ``search_spaces/`` (``quickstart``, ``paper/table1_main``, ...)."""
    paths = [path for path in SHIPPED_SPECS.rglob("*.yaml") if not path.name.startswith("_")]
    return sorted(str(path.relative_to(SHIPPED_SPECS).with_suffix("")) for path in paths)


def resolve_spec_path(ref: str | Path) -> Path:
    """A spec file from a path or a shipped spec name; raises ConfigError listing the shipped names."""
    path = Path(ref)
    if path.is_file():
        return path
    shipped = SHIPPED_SPECS / f"{ref}.yaml"
    if shipped.is_file():
        return shipped
    raise ConfigError(
        f"spec {str(ref)!r} is neither a file nor a shipped spec; pass a YAML path or one of: "
        f"{', '.join(shipped_spec_names())}"
    )


def load_spec(ref: str | Path, workdir: Path) -> SweepSpec:
    """Read, substitute ``${workdir}``/``${data}`` and validate a spec (structure only, see ``orchestrator.plan``).

    Raises:
        ConfigError: the file is missing, is not valid YAML, repeats a key, or breaks the schema.
    """
    path = resolve_spec_path(ref)
    return parse_spec(_read_with_parents(path, seen=()), workdir, source=str(path))


def _read_with_parents(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The spec at ``path`` deep-merged over the chain of specs it ``extends``."""
    if path.resolve() in seen:
        raise ConfigError(f"{path}: 'extends' forms a cycle through {', '.join(map(str, seen))}; remove one link")
    raw = load_yaml(read_spec_text(path), source=str(path))
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: extends must be a spec name or path, but got {parent!r}")
    local = path.parent / f"{parent}.yaml"
    parent_path = local if local.is_file() else resolve_spec_path(parent)
    return _deep_merge(_read_with_parents(parent_path, (*seen, path.resolve())), raw)


def read_spec_text(path: Path) -> str:
    """The spec file's text; raises ConfigError when it cannot be read or is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path} is not UTF-8 text (byte {error.start}); save the spec as UTF-8") from None
    except OSError as error:
        raise ConfigError(f"{path} cannot be read ({error.strerror}); check the path and its permissions") from None


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        both_dicts = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _deep_merge(merged[key], value) if both_dicts else value
    return merged


def parse_spec(raw: dict[str, Any], workdir: Path, source: str = "spec") -> SweepSpec:
    """Validate an already-parsed spec dict after substituting placeholders; raises ConfigError."""
    variables = {"workdir": str(workdir.resolve()), "data": os.environ.get("DCSWEEP_DATA", str(workdir.resolve() / "data"))}
    resolved = _substitute(_expand_bundles(raw, source), variables, source)
    try:
        return SweepSpec.model_validate(resolved)
    except ValidationError as error:
        raise ConfigError(f"{source}: {describe_validation_error(error, whole='spec')}") from None


def _expand_bundles(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """``raw`` without its ``bundles`` section, each grid axis named after a bundle group given as the bundles.

    Example: ``bundles: {dataset: {cifar10: {dataset.name: cifar10, ...}}}`` and ``grid: {dataset: [cifar10]}``
    give ``grid: {dataset: [{dataset.name: cifar10, ...}]}``.

    Raises:
        ConfigError: ``bundles`` is not a mapping of groups of named mappings, or a grid names an unknown bundle.
    """
    bundles = raw.get("bundles", {})
    if not isinstance(bundles, dict) or not all(
        isinstance(group, dict) and all(isinstance(bundle, dict) for bundle in group.values()) for group in bundles.values()
    ):
        raise ConfigError(f"{source}: bundles must map a group name to named bundles of overrides, e.g. "
                          "{dataset: {cifar10: {dataset.name: cifar10}}}")
    grid = raw.get("grid")
    if not isinstance(grid, dict):
        return {key: value for key, value in raw.items() if key != "bundles"}
    expanded = dict(grid)
    for axis, group in bundles.items():
        values = grid.get(axis)
        if not isinstance(values, list):
            continue
        for index, value in enumerate(values):
            if isinstance(value, str) and value not in group:
                raise ConfigError(f"{source}: grid.{axis}[{index}] names bundle {value!r}, which bundles.{axis} does "
                                  f"not hold; choose one of: {', '.join(group)}")
        expanded[axis] = [group[value] if isinstance(value, str) else value for value in values]
    return {**{key: value for key, value in raw.items() if key != "bundles"}, "grid": expanded}


def _substitute(value: Any, variables: dict[str, str], source: str) -> Any:
    if isinstance(value, dict):
        return {key: _substitute(item, variables, source) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, variables, source) for item in value]
    if isinstance(value, str):
        for name in PLACEHOLDER.findall(value):
            if name not in variables:
                raise ConfigError(f"{source}: unknown placeholder ${{{name}}} in {value!r}; use ${{workdir}} or ${{data}}")
        return PLACEHOLDER.sub(lambda match: variables[match.group(1)], value)
    return value
