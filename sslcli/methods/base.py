"""The contract every SSL method fulfils, and the registry that names methods."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn as nn


class Method(nn.Module):
    """An SSL objective around a backbone.

    Subclasses set the class attributes, build their heads in ``__init__`` and return a scalar loss
    from ``training_step``. Hooks (EMA updates, queues, cluster reassignment) are no-ops here.
    ``self.backbone`` is what ``encoder.safetensors`` stores and ``embed`` uses. A constructor with an
    ``input_size`` parameter receives the run's input size (e.g. to size a pixel decoder).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    paper: ClassVar[str]
    family: ClassVar[str]  # which views the domain must produce, e.g. "two_views"
    domains: ClassVar[tuple[str, ...]]
    # Backbone used when the config names none, ahead of the domain's (e.g. MAE needs a ViT).
    default_backbone: ClassVar[str | None] = None
    # True: ``training_step(views, positions)`` also gets the batch's item indices (B,) (DeepCluster).
    wants_item_index: ClassVar[bool] = False

    def __init__(self, backbone: nn.Module, feature_dim: int, **options: Any):
        super().__init__()
        if options:
            raise ValueError(f"{self.name}: unknown option(s) {', '.join(sorted(options))}")
        self.backbone = backbone
        self.feature_dim = feature_dim

    def training_step(self, views: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def on_train_step_end(self, step: int, total_steps: int) -> None:
        """Called after each optimizer step (e.g. momentum-encoder updates)."""

    def on_epoch_start(self, epoch: int, features: Callable[[], torch.Tensor]) -> None:
        """Called before an epoch's first batch (not again when resuming mid-epoch).

        ``features()`` runs the backbone (eval mode, no augmentation) over every training item and
        returns their pooled features (N, F) on the CPU, in item order (e.g. for clustering).
        """

    def sampling_weights(self) -> torch.Tensor | None:
        """Per-item weights (N,) the engine draws the epoch's items from (with replacement); ``None``
        keeps the plain shuffled pass. Must depend only on state saved in ``state_dict`` (resume)."""
        return None

    def on_train_end(self, run_dir: Path) -> None:
        """Called once training has finished (e.g. to write pictures into ``run_dir / "plots"``)."""


_REGISTRY: dict[str, type[Method]] = {}


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator adding a method under ``cls.name``; registering a name twice is an error."""
    if cls.name in _REGISTRY:
        raise ValueError(
            f"method {cls.name!r} is registered twice ({_REGISTRY[cls.name].__name__}, {cls.__name__})"
        )
    _REGISTRY[cls.name] = cls
    return cls


def get_method(name: str) -> type[Method]:
    """The method class called ``name``; an unknown name lists the valid ones."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def available_methods() -> dict[str, type[Method]]:
    return dict(sorted(_REGISTRY.items()))
