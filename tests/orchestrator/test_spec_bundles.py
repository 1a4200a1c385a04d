"""Named bundles (``bundles:`` + a grid axis of names) plan to the very trials of the same spec written inline."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.plan import plan_trials
from orchestrator.sweep_spec import load_spec, parse_spec
from orchestrator.yaml_io import dump_yaml
from trainables.errors import ConfigError

DIGITS = {"dataset.name": "digits", "train.batch_size": 128}
COIL = {"dataset.name": "coil20", "dataset.root": "${data}/coil20", "train.batch_size": 64}
INLINE = {
    "name": "bundles",
    "base": {"method": {"name": "cdc"}},
    "grid": {"dataset": [DIGITS, COIL], "init.alpha": [1.0, 2.0]},
    "arms": {"baseline": {}, "ours": {"init.strategy": "dachi"}},
}


def _planned(spec: dict, tmp_path: Path) -> list[tuple[str, str]]:
    return [(trial.name, trial.key) for trial in plan_trials(parse_spec(spec, tmp_path), tmp_path)]


def test_a_grid_of_bundle_names_plans_the_trials_of_the_bundles_written_inline(tmp_path: Path) -> None:
    named = {**INLINE, "bundles": {"dataset": {"digits": DIGITS, "coil": COIL}},
             "grid": {"dataset": ["digits", "coil"], "init.alpha": [1.0, 2.0]}}
    assert _planned(named, tmp_path) == _planned(INLINE, tmp_path)
    assert parse_spec(named, tmp_path).spec_hash() == parse_spec(INLINE, tmp_path).spec_hash()


def test_bundles_defined_in_a_parent_spec_serve_its_children(tmp_path: Path) -> None:
    (tmp_path / "_parent.yaml").write_text(dump_yaml({"bundles": {"dataset": {"digits": DIGITS, "coil": COIL}}}))
    child = {**INLINE, "extends": "_parent", "grid": {"dataset": ["coil", "digits"], "init.alpha": [1.0, 2.0]}}
    (tmp_path / "child.yaml").write_text(dump_yaml(child))
    reordered = {**INLINE, "grid": {"dataset": [COIL, DIGITS], "init.alpha": [1.0, 2.0]}}
    spec = load_spec(tmp_path / "child.yaml", tmp_path)
    assert [(t.name, t.key) for t in plan_trials(spec, tmp_path)] == _planned(reordered, tmp_path)


def test_an_unknown_bundle_name_is_one_line_naming_the_axis_and_the_choices(tmp_path: Path) -> None:
    spec = {**INLINE, "bundles": {"dataset": {"digits": DIGITS}}, "grid": {"dataset": ["digits", "cifar"]}}
    with pytest.raises(ConfigError, match=r"grid\.dataset\[1\] names bundle 'cifar', .*choose one of: digits$"):
        parse_spec(spec, tmp_path)
