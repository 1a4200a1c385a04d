"""The registries' name tables (listed without importing a plug-in) agree with what the modules register."""

from __future__ import annotations

import importlib

import pytest

from trainables.registry import CONFIG_REGISTRIES, Registry


@pytest.mark.parametrize("key", list(CONFIG_REGISTRIES))
def test_each_listed_name_is_registered_by_its_module_and_nothing_else_is(key: str) -> None:
    registry = CONFIG_REGISTRIES[key]
    for module in set(registry.modules.values()):
        importlib.import_module(module)
    assert sorted(registry._entries) == sorted(registry.modules)
    for name in registry.names():
        assert registry.get(name) is registry._entries[name]


def test_a_name_added_at_run_time_is_listed_and_an_unknown_one_is_refused_on_one_line() -> None:
    registry: Registry[object] = Registry("thing", {"lazy": "json"})
    registry.register("eager")(object)
    assert registry.names() == ["eager", "lazy"] and "lazy" in registry and "other" not in registry
    with pytest.raises(ValueError, match="unknown thing 'other'; choose one of: eager, lazy"):
        registry.get("other")


def test_the_selectors_declare_exactly_the_selector_metric_names_the_engine_logs() -> None:
    from trainables.metric_names import METRIC_KEYS, SELECTOR_KEYS
    from trainables.registry import SELECTION_STRATEGIES

    declared = [key for name in SELECTION_STRATEGIES for key in SELECTION_STRATEGIES.get(name).metric_keys]
    assert sorted(declared) == sorted(SELECTOR_KEYS) and set(SELECTOR_KEYS) <= set(METRIC_KEYS)
