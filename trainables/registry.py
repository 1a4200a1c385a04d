"""Name -> plug-in registries: every dataset, encoder, method and strategy is chosen by name."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

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

    def __init__(self, kind: str) -> None:
        self.kind = kind
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
        """Return the plug-in called ``name``; raises ConfigError listing the known names."""
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
