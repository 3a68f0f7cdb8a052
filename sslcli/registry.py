"""One registry type for everything sslcli finds by name: methods, domains, encoders and kernels.

A ``Registry`` maps names to things of one sort. A name registered twice fails loudly, naming both
origins; an unknown name fails with the closest known names first. Besides what sslcli's own code
registers, a registry loads the Python entry points of its group (``sslcli.methods``,
``sslcli.domains``, ``sslcli.encoders``, ``sslcli.kernels``), so another installed distribution adds a
method or a domain without forking sslcli::

    [project.entry-points."sslcli.methods"]
    my_method = "my_package.my_method:MyMethod"

sslcli's own domains and kernels are entry points of its own distribution too (pyproject.toml): they
import nothing from the application, so they cannot register themselves.

This module imports nothing beyond the standard library and ``sslcli.errors``, so the CLI's early
checks can use ``entry_point_names`` before torch is imported.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sslcli.errors import UserError

if TYPE_CHECKING:
    from sslcli.domains.base import Domain
    from sslcli.methods.base import Method

T = TypeVar("T")

OWN_DISTRIBUTION = "sslcli"


class PluginError(UserError):
    """An entry point could not be loaded, or loaded something it may not register; ``str(err)`` is the
    one-line reason naming the distribution it came from."""


def entry_point_names(group: str) -> dict[str, str]:
    """The names the installed distributions declare in entry-point ``group``, with the distribution
    declaring each (read from their metadata: nothing is imported)."""
    return {point.name: distribution_name(point) for point in entry_points(group=group)}


def distribution_name(point: EntryPoint) -> str:
    return point.dist.name if point.dist is not None else "an unknown distribution"


def close_matches(name: str, known: list[str]) -> str:
    """``"; did you mean a, b?"`` for the known names closest to ``name``, or nothing."""
    matches = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(matches)}?" if matches else ""


def unknown(what: str, name: str, known: Iterable[str]) -> str:
    """The one-line error for an unknown name: the close matches first, then every known name."""
    names = sorted(known)
    return f"unknown {what} {name!r}{close_matches(name, names)} (available: {', '.join(names)})"


class Registry(Mapping[str, T], Generic[T]):
    """Things of one sort by name (``what``: "method", "domain", ...), filled on first use by importing
    ``builtins`` (a module whose import registers sslcli's own) and loading entry-point ``group``.
    A read-only mapping, sorted by name; ``registry[name]`` of an unknown name is a KeyError whose
    message names the close matches and every known name."""

    def __init__(self, what: str, group: str, builtins: str | None = None):
        self.what = what
        self.group = group
        self._builtins = builtins
        self._entries: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._loaded = False

    def add(self, name: str, value: T, origin: str = OWN_DISTRIBUTION) -> T:
        """Register ``value`` under ``name``; the same value twice is a no-op, another value a ValueError.
        A value with a ``name`` attribute (a class) must be registered under that name."""
        own_name = getattr(value, "name", name)
        if own_name != name:
            raise ValueError(f"{self.what} {own_name!r} from {origin} is registered as {name!r}")
        if name in self._entries and self._entries[name] is not value:
            raise ValueError(
                f"{self.what} {name!r} is registered twice (by {self._origins[name]} and by {origin})"
            )
        self._entries[name] = value
        self._origins[name] = origin
        return value

    def register(self, value: T) -> T:
        """Decorator: register a class under its ``name`` attribute (from sslcli's own code)."""
        return self.add(value.name, value)

    def __getitem__(self, name: str) -> T:
        self.load()
        if name not in self._entries:
            raise KeyError(unknown(self.what, name, self._entries))
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        self.load()
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        self.load()
        return len(self._entries)

    def origin(self, name: str) -> str:
        """The distribution that registered ``name`` (``sslcli`` for its own)."""
        self.load()
        return self._origins[name]

    def holds(self, name: str) -> bool:
        """Whether ``name`` is registered already or declared by an entry point, without loading
        anything (the CLI's checks before torch is imported)."""
        return name in self._entries or name in entry_point_names(self.group)

    def remove(self, name: str) -> None:
        """Forget ``name`` (a test that registered something of its own cleans up with it)."""
        self._entries.pop(name)
        self._origins.pop(name)

    def load(self) -> None:
        """Import the built-ins and load the entry points, once."""
        if self._loaded:
            return
        self._loaded = True
        if self._builtins is not None:
            importlib.import_module(self._builtins)
        for point in sorted(entry_points(group=self.group), key=lambda p: p.name):
            origin = distribution_name(point)
            value = loaded(point, origin, self.what)
            if point.name in self._entries and self._entries[point.name] is value:
                continue  # a module that registers itself on import, declared as an entry point too
            try:
                self.add(point.name, value, origin)
            except ValueError as err:
                raise PluginError(str(err)) from None

    def reload(self) -> None:
        """Load the entry points again (a distribution installed after the first use, e.g. in tests)."""
        self._loaded = False
        self.load()


def loaded(point: EntryPoint, origin: str, what: str) -> object:
    """What entry point ``point`` names; any error importing it is a PluginError naming ``origin``."""
    try:
        return point.load()
    except Exception as err:  # a plug-in's import may fail in any way; it must not be a traceback
        raise PluginError(
            f"{what} {point.name!r} from {origin} cannot be loaded ({point.value}): "
            f"{type(err).__name__}: {err}"
        ) from None


METHODS: Registry[type[Method]] = Registry("method", "sslcli.methods", builtins="sslcli.methods")
DOMAINS: Registry[type[Domain]] = Registry("domain", "sslcli.domains")
ENCODERS: Registry[Any] = Registry("encoder", "sslcli.encoders", builtins="sslcli.models")
KERNELS: Registry[Any] = Registry("kernel", "sslcli.kernels")
