"""Spec loading and trial expansion, checked against direct computations (itertools, hashes, YAML)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from orchestrator.plan import plan_trials, trial_key
from orchestrator.sweep_spec import load_spec, parse_spec, shipped_spec_names
from orchestrator.yaml_io import load_yaml
from trainables.config import parse_trial_config
from trainables.errors import ConfigError

SPEC = {
    "name": "grid",
    "base": {"dataset": {"name": "digits"}, "method": {"name": "cdc"}, "train": {"epochs": 2}},
    "grid": {"selection.epsilon": [0.0, 0.2], "init.alpha": [1.0, 3.0, 5.0]},
    "arms": {"baseline": {"init.strategy": "prototype"}, "ours": {"init": {"strategy": "dachi"}, "selection.strategy": "dss"}},
    "seeds": [3, 7],
}


def test_expansion_is_the_cartesian_product_of_grid_arms_and_seeds(tmp_path: Path) -> None:
    trials = plan_trials(parse_spec(SPEC, tmp_path), tmp_path)
    expected = {
        (arm, eps, alpha, seed)
        for arm, eps, alpha, seed in itertools.product(SPEC["arms"], [0.0, 0.2], [1.0, 3.0, 5.0], SPEC["seeds"])
    }
    got = {(t.arm, t.config["selection.epsilon"], t.config["init.alpha"], t.seed) for t in trials}
    assert got == expected and len(trials) == len(expected) == 24
    assert len({t.name for t in trials}) == 24 and len({t.key for t in trials}) == 24
    one = next(t for t in trials if t.arm == "ours" and t.seed == 3 and t.config["init.alpha"] == 3.0 and t.config["selection.epsilon"] == 0.2)
    assert one.name == "cdc/ours/selection.epsilon=0.2/init.alpha=3.0/seed3"
    parsed = parse_trial_config(one.config)
    assert (parsed.init.strategy, parsed.selection.strategy, parsed.train.seed) == ("dachi", "dss", 3)
    assert parsed.cache_dir == (tmp_path / "cache").resolve()


def test_trial_key_is_the_config_hash_without_seed_plus_the_seed(tmp_path: Path) -> None:
    trials = plan_trials(parse_spec(SPEC, tmp_path), tmp_path)
    by_config = {}
    for trial in trials:
        stem, seed = trial.key.rsplit("-s", 1)
        assert int(seed) == trial.seed
        by_config.setdefault((trial.arm, trial.config["selection.epsilon"], trial.config["init.alpha"]), set()).add(stem)
    assert all(len(stems) == 1 for stems in by_config.values())  # seeds share the hash
    assert len({next(iter(stems)) for stems in by_config.values()}) == len(by_config)
    moved = {**trials[0].config, "cache_dir": "/elsewhere"}
    assert trial_key(moved) == trials[0].key  # where the cache lives does not change the trial


def test_bundles_apply_several_overrides_together_and_arms_win(tmp_path: Path) -> None:
    spec = {
        "name": "bundles",
        "base": {"dataset": {"name": "digits"}},
        "grid": {"method": [{"method.name": "cdc", "init.strategy": "prototype"}, {"method.name": "scan"}]},
        "arms": {"baseline": {}, "+DACHI": {"init.strategy": "dachi"}},
    }
    trials = {t.name: t for t in plan_trials(parse_spec(spec, tmp_path), tmp_path)}
    assert set(trials) == {"cdc/baseline/seed0", "scan/baseline/seed0", "cdc/+DACHI/seed0", "scan/+DACHI/seed0"}
    assert trials["cdc/baseline/seed0"].config["init.strategy"] == "prototype"
    assert "init.strategy" not in trials["scan/baseline/seed0"].config
    assert trials["cdc/+DACHI/seed0"].config["init.strategy"] == "dachi"


def test_placeholders_and_extends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCSWEEP_DATA", "/data/root")
    (tmp_path / "_parent.yaml").write_text("base: {encoder: {checkpoint: '${workdir}/enc.ckpt'}, train: {epochs: 9}}\nseeds: [1]\n")
    (tmp_path / "child.yaml").write_text(
        "extends: _parent\nname: child\nbase: {dataset: {name: digits, root: '${data}/digits'}, train: {epochs: 4}}\n"
    )
    spec = load_spec(tmp_path / "child.yaml", tmp_path / "work")
    assert spec.base["encoder"]["checkpoint"] == f"{(tmp_path / 'work').resolve()}/enc.ckpt"
    assert spec.base["dataset"]["root"] == "/data/root/digits"
    assert spec.base["train"]["epochs"] == 4 and spec.seeds == [1]


def test_duplicate_keys_are_rejected_at_any_depth() -> None:
    assert load_yaml("a: {b: 1, c: 2}\n", "x") == {"a": {"b": 1, "c": 2}}
    with pytest.raises(ConfigError, match="'b' appears twice"):
        load_yaml("a:\n  b: 1\n  b: 2\n", "x")


@pytest.mark.parametrize("name", shipped_spec_names())
def test_every_shipped_spec_validates_structurally(name: str, tmp_path: Path) -> None:
    spec = load_spec(name, tmp_path)
    if spec.search is None:
        trials = plan_trials(spec, tmp_path)
        assert len(trials) == len({t.name for t in trials}) > 0
    else:
        from orchestrator.plan import plan_search

        plan_search(spec, tmp_path)


def test_the_shipped_specs_cover_the_paper() -> None:
    expected = {
        "quickstart", "optuna/eps_alpha_k",
        *(f"paper/{name}" for name in (
            "table1_main", "table3_ablation", "table4_density", "table5_epsilon", "table8_alpha", "fig4c_k",
            "fig5a_pruning", "table9_coil20", "table10_seeds", "table11_early_stop", "table12_nonimage",
        )),
    }
    assert expected <= set(shipped_spec_names())


def test_quickstart_is_scan_and_cdc_times_five_arms_times_three_seeds(tmp_path: Path) -> None:
    trials = plan_trials(load_spec("quickstart", tmp_path), tmp_path)
    assert {(t.config["method.name"], t.arm, t.seed) for t in trials} == set(
        itertools.product(["scan", "cdc"], ["baseline", "prototype", "+DACHI", "+DSS", "ours"], [0, 1, 2])
    ) - {("cdc", "prototype", seed) for seed in [0, 1, 2]}
    assert {t.config["encoder.checkpoint"] for t in trials} == {f"{tmp_path.resolve()}/encoders/digits_small_cnn.ckpt"}


def test_exclude_drops_the_matching_combinations_only(tmp_path: Path) -> None:
    spec = _spec_with(
        grid={"method.name": ["scan", "cdc"]},
        arms={"baseline": {}, "prototype": {"init.strategy": "prototype"}},
        exclude=[{"method.name": "cdc", "arm": "prototype"}],
    )
    trials = plan_trials(parse_spec(spec, tmp_path), tmp_path)
    expected = set(itertools.product(["scan", "cdc"], ["baseline", "prototype"], SPEC["seeds"])) - {
        ("cdc", "prototype", seed) for seed in SPEC["seeds"]
    }
    assert {(t.config["method.name"], t.arm, t.seed) for t in trials} == expected


def test_an_exclude_rule_that_matches_nothing_is_refused(tmp_path: Path) -> None:
    spec = _spec_with(arms={"baseline": {}}, exclude=[{"method.name": "cdc", "arm": "protoype"}])
    with pytest.raises(ConfigError, match=r"exclude\[0\] .* matches no trial"):
        plan_trials(parse_spec(spec, tmp_path), tmp_path)


def _spec_with(**changes) -> dict:
    return {**SPEC, "grid": {}, **changes}


def test_equal_values_spelled_differently_are_one_trial(tmp_path: Path) -> None:
    plain = plan_trials(parse_spec(_spec_with(arms={"a": {"init.alpha": 2}}), tmp_path), tmp_path)
    floated = plan_trials(parse_spec(_spec_with(arms={"a": {"init": {"alpha": 2.0}}}), tmp_path), tmp_path)
    assert [t.key for t in plain] == [t.key for t in floated]
    implicit = plan_trials(parse_spec(_spec_with(arms={"a": {}}), tmp_path), tmp_path)
    explicit = plan_trials(parse_spec(_spec_with(arms={"a": {"init.strategy": "random"}}), tmp_path), tmp_path)
    assert parse_trial_config(implicit[0].config).init.strategy == "random"  # the default, spelled out or not
    assert [t.key for t in implicit] == [t.key for t in explicit]
    other = plan_trials(parse_spec(_spec_with(arms={"a": {"init.alpha": 2.5}}), tmp_path), tmp_path)
    assert {t.key for t in other}.isdisjoint(t.key for t in plain)


def test_trial_key_is_the_same_for_a_flat_dict_and_its_parsed_config(tmp_path: Path) -> None:
    trial = plan_trials(parse_spec(SPEC, tmp_path), tmp_path)[0]
    assert trial_key(trial.config) == trial_key(parse_trial_config(trial.config)) == trial.key


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"arms": {"ok": {}, "copy_of_ok": {}}}, ("cdc/ok/seed3", "cdc/copy_of_ok/seed3")),
        ({"arms": {"base": {}}, "grid": {"selection.epsilon": [0.1, 0.1]}}, ("selection.epsilon=0.1",)),
        ({"arms": {"a": {"init.alpha": 2}, "b": {"init.alpha": 2.0}}}, ("cdc/a/seed3", "cdc/b/seed3")),
    ],
    ids=["two_empty_arms", "repeated_grid_value", "same_value_two_spellings"],
)
def test_two_trials_resolving_to_one_config_are_refused_naming_both(changes: dict, named: tuple, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        plan_trials(parse_spec(_spec_with(**changes), tmp_path), tmp_path)
    assert all(name in str(refused.value) for name in named)


def test_trial_count_is_computed_without_expanding(tmp_path: Path) -> None:
    spec = parse_spec({**SPEC, "max_trials": 24}, tmp_path)
    assert spec.trial_count() == len(plan_trials(spec, tmp_path)) == 2 * 3 * 2 * 2
    with pytest.raises(ConfigError, match="expands to 24 trials .* max_trials = 23"):
        parse_spec({**SPEC, "max_trials": 23}, tmp_path)
    huge = {**SPEC, "grid": {f"method.params.p{i}": list(range(10)) for i in range(7)}}  # 10**7 x 2 x 2 points
    with pytest.raises(ConfigError, match="expands to 40000000 trials"):
        parse_spec(huge, tmp_path)


def test_yaml_aliases_are_counted_expanded_and_a_bomb_is_refused() -> None:
    from orchestrator.yaml_io import MAX_YAML_NODES

    shared = "a: &x {k: [1, 2, 3]}\nb: *x\nc: *x\n"
    assert load_yaml(shared, "x") == {"a": {"k": [1, 2, 3]}, "b": {"k": [1, 2, 3]}, "c": {"k": [1, 2, 3]}}
    levels = ["l0: &l0 [0]"] + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 7)]
    assert 10**6 > MAX_YAML_NODES  # six levels of ten aliases expand to more than 10**6 nodes
    with pytest.raises(ConfigError, match="expands to more than"):
        load_yaml("\n".join(levels) + "\n", "bomb.yaml")
