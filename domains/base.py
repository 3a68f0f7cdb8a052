"""What every modality adapter provides, and the registry that names them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


class BadItemError(Exception):
    """One input file could not be used; ``str(err)`` is the one-line reason."""


@dataclass(frozen=True)
class Item:
    """One unit of data: a file (or a frame of one) that ``Domain.load`` turns into a tensor.

    ``item_id`` is stable across runs and safe to write to disk; ``rel_path`` is the path relative
    to the data root (domains holding private data may replace it with an opaque id).
    """

    item_id: str
    path: Path
    rel_path: str
    label: str | None = None


ViewFn = Callable[[torch.Tensor], list[torch.Tensor]]

# two_views: two independent augmentations (SimCLR, BYOL, ...); one_view: one augmentation (pretext tasks
# that then apply their own transform); plain: the deterministic eval resize, no augmentation.
VIEW_FAMILIES = ("two_views", "one_view", "plain")


class Domain(ABC):
    """A modality: how its files are found, decoded into a canonical tensor and augmented."""

    name: str
    description: str
    default_input_size: int
    default_backbone: str

    @abstractmethod
    def discover(self, root: Path) -> list[Item]:
        """Every candidate file under ``root`` (recursively), sorted by ``rel_path``."""

    @abstractmethod
    def load(self, item: Item) -> torch.Tensor:
        """Decode ``item`` into the canonical tensor; raise ``BadItemError`` with a reason."""

    @abstractmethod
    def augment(self, input_size: int, options: dict[str, Any]) -> Callable[[torch.Tensor], torch.Tensor]:
        """The modality's random augmentation: canonical tensor -> one normalised view of ``input_size``.

        ``options`` override the documented defaults; an unknown key is a ``ValueError`` naming it.
        """

    def views(self, family: str, input_size: int, options: dict[str, Any]) -> ViewFn:
        """The views a method family needs from one canonical tensor (see ``VIEW_FAMILIES``)."""
        if family == "two_views":
            augment = self.augment(input_size, options)
            return lambda tensor: [augment(tensor), augment(tensor)]
        if family == "one_view":
            augment = self.augment(input_size, options)
            return lambda tensor: [augment(tensor)]
        if family == "plain":
            plain = self.eval_transform(input_size)
            return lambda tensor: [plain(tensor)]
        raise ValueError(
            f"domain {self.name!r} has no {family!r} views; families: {', '.join(VIEW_FAMILIES)}"
        )

    @abstractmethod
    def eval_transform(self, input_size: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """Deterministic resize used by embed and eval."""

    def builtin_sample(self) -> tuple[Path, Path] | None:
        """(train, test) folders of real labelled data used when ``--data`` is omitted."""
        return None

    def recipe(self, data_is_builtin: bool) -> dict[str, Any]:
        """Defaults this domain recommends for pretraining (input size, view options, ...)."""
        return {"input_size": self.default_input_size, "backbone": self.default_backbone, "views": {}}


_REGISTRY: dict[str, type[Domain]] = {}


def register_domain(cls: type[Domain]) -> type[Domain]:
    """Class decorator adding a domain under ``cls.name``; a second class with that name is an error."""
    if cls.name in _REGISTRY:
        raise ValueError(
            f"domain {cls.name!r} is registered twice ({_REGISTRY[cls.name].__name__}, {cls.__name__})"
        )
    _REGISTRY[cls.name] = cls
    return cls


def get_domain(name: str) -> Domain:
    """An instance of the domain called ``name``; an unknown name lists the valid ones."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown domain {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]()


def available_domains() -> dict[str, type[Domain]]:
    return dict(sorted(_REGISTRY.items()))
