"""Name -> plug-in registries: every dataset, encoder, method and strategy is chosen by name.

Each registry knows its names up front (``modules``: name -> the module that registers it), so listing and
checking names imports nothing; ``get`` imports the registering module (torch, faiss, ...) on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from trainables.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A dict of named plug-ins with a decorator to add one and a lookup that lists what exists.

    Example:
        >>> INITS = Registry("init strategy")
        >>> @INITS.register("prototype")
        ... class PrototypeInit: ...
        >>> INITS.get("prototype") is PrototypeInit
        True
    """

    def __init__(self, kind: str, modules: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self.modules = dict(modules or {})  # name -> module whose import registers it
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name``; a name may be registered once."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        """Return the plug-in called ``name`` (importing its module); raises ConfigError listing the known names."""
        if name not in self._entries and name in self.modules:
            importlib.import_module(self.modules[name])
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(self.unknown(name)) from None

    def unknown(self, name: object) -> str:
        """The one-line message for a name this registry does not hold."""
        return f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}"

    def names(self) -> list[str]:
        """Registered names (imported or not), sorted."""
        return sorted({*self._entries, *self.modules})

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self.modules

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


_DATA, _PLUGINS = "trainables.data.", "trainables.plugins."
DATASETS: Registry[Any] = Registry("dataset", {
    "arrays": _DATA + "arrays", "cifar10": _DATA + "cifar", "cifar20": _DATA + "cifar", "digits": _DATA + "digits",
    "coil20": _DATA + "folders", "image_folder": _DATA + "folders", "imagenet10": _DATA + "folders",
    "imagenet_dogs": _DATA + "folders", "tiny_imagenet": _DATA + "folders", "mnist": _DATA + "mnist",
    "stl10": _DATA + "stl10",
})
ENCODERS: Registry[Any] = Registry("encoder", dict.fromkeys(
    ("mlp", "resnet18", "resnet34", "small_cnn"), "trainables.models.encoders"
))
METHODS: Registry[Any] = Registry("method", {name: f"trainables.methods.{name}" for name in ("cc", "cdc", "scan", "tcl")})
INIT_STRATEGIES: Registry[Any] = Registry("init strategy", dict.fromkeys(
    ("random", "prototype", "dachi", "spectral", "spectral+dachi"), _PLUGINS + "init_strategies"
))
SELECTION_STRATEGIES: Registry[Any] = Registry("selection strategy", {
    "none": _PLUGINS + "baseline_selectors", "random": _PLUGINS + "baseline_selectors",
    "dss": _PLUGINS + "stability", "loss": _PLUGINS + "stability", "infobatch": _PLUGINS + "infobatch",
})
CONFIG_REGISTRIES: dict[str, Registry[Any]] = {
    "dataset.name": DATASETS, "encoder.arch": ENCODERS, "method.name": METHODS,
    "init.strategy": INIT_STRATEGIES, "selection.strategy": SELECTION_STRATEGIES,
}
"""The TrialConfig key whose value each registry names."""
