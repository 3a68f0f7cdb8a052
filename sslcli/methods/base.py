"""The contract every SSL method fulfils (methods register in ``sslcli.registry.METHODS``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn as nn

from sslcli.distributed import World
from sslcli.domains.base import InputSpec, Sample, only_input


@dataclass
class StepOutput:
    """What one training step returns: the scalar loss, and the method's own metrics, which the
    engine writes to ``metrics.csv`` under the names in ``Method.log_names``."""

    loss: torch.Tensor  # ()
    logs: dict[str, float] = field(default_factory=dict)


@dataclass
class StepContext:
    """What the engine tells a method about the step in progress (defaults: a lone step, e.g. in tests)."""

    step: int = 0  # optimizer steps done (in ``on_step_end``: including the one just taken)
    total_steps: int = 1
    epoch: int = 0
    indices: torch.Tensor | None = None  # (B,) positions of the batch's items in the run's item list
    world: World = field(default_factory=World)  # the other ranks: a method's only way to reach them
    # pooled features (N, F) of every training item, eval transform, on the CPU, in item order
    features: Callable[[], torch.Tensor] | None = None


ANY_KIND = "any"  # in ``Method.accepts``: inputs of every kind (the method uses pooled embeddings only)


class Method(nn.Module):
    """An SSL objective around a backbone.

    Subclasses set the class attributes, build their heads in ``__init__`` and return a
    ``StepOutput`` from ``forward(views, ctx)``: the ``nn.Module`` forward, so a
    ``DistributedDataParallel`` wrapper syncs their gradients. Hooks (EMA updates, queues, cluster
    reassignment) are no-ops here. ``self.backbone`` is what ``encoder.safetensors`` stores and
    ``embed`` uses (for several inputs, every input's encoder; ``embed --input`` picks one). A
    constructor with a ``spec`` parameter also receives the run's ``InputSpec`` (e.g. to size a pixel
    decoder to the input's channels and H x W); one with ``inputs``, every input's spec by name (to
    tell a method of several inputs which is which, by kind).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    paper: ClassVar[str]
    family: ClassVar[str]  # which views the domain must produce, e.g. "two_views"
    # input kinds it trains on (``InputSpec.kind``, or ``ANY_KIND``), never domains
    accepts: ClassVar[tuple[str, ...]]
    needs_colour: ClassVar[bool] = False  # True: only inputs whose channels are colour (RGB)
    log_names: ClassVar[tuple[str, ...]] = ()  # the keys of ``StepOutput.logs``
    # Inputs per sample; above 1 (a clip and its sound), ``backbone`` is an ``nn.ModuleDict`` of one
    # encoder per input name and ``feature_dim`` a dict of their feature sizes.
    input_count: ClassVar[int] = 1
    # Backbone used when the config names none, ahead of the domain's (e.g. MAE needs a ViT).
    default_backbone: ClassVar[str | None] = None

    def __init__(self, backbone: nn.Module, feature_dim: int, **options: Any):
        super().__init__()
        if options:
            raise ValueError(f"{self.name}: unknown option(s) {', '.join(sorted(options))}")
        self.backbone = backbone
        self.feature_dim = feature_dim

    @classmethod
    def supports(cls, spec: InputSpec) -> bool:
        """Whether this method can train on inputs described by ``spec``."""
        kind_ok = ANY_KIND in cls.accepts or spec.kind in cls.accepts
        return kind_ok and (spec.colour or not cls.needs_colour)

    @classmethod
    def accepts_text(cls) -> str:
        """What the method trains on, in words (``"image2d in colour"``, ``"clip, spectrogram, 2 inputs
        per sample"``): the catalog's and the refusals' wording."""
        colour = " in colour" if cls.needs_colour else ""
        count = f", {cls.input_count} inputs per sample" if cls.input_count > 1 else ""
        kinds = "any kind" if ANY_KIND in cls.accepts else ", ".join(cls.accepts)
        return kinds + colour + count

    @classmethod
    def fits(cls, inputs: dict[str, InputSpec]) -> bool:
        """Whether this method trains on samples whose inputs are ``inputs`` (a domain's, by name): as
        many as it takes, each of a kind it accepts (decided by kinds, never by a domain's name)."""
        return len(inputs) == cls.input_count and all(cls.supports(spec) for spec in inputs.values())

    def embed(self, sample: Sample) -> dict[str, torch.Tensor]:
        """Methods with several inputs: each input's embedding (B, P) in their shared space, by input
        name (``eval`` ranks one input's embeddings against another's: cross-modal retrieval)."""
        raise NotImplementedError(f"{self.name} has no shared space of several inputs")

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        """One step's loss from the batch's views: one sample of batched inputs per view, e.g.
        ``[{"image": (B, C, H, W)}, {"image": (B, C, H, W)}]`` for two views."""
        raise NotImplementedError

    def on_step_end(self, ctx: StepContext) -> None:
        """Called after each optimizer step (e.g. momentum-encoder updates)."""

    def on_epoch_start(self, ctx: StepContext) -> None:
        """Called before an epoch's first batch (not again when resuming mid-epoch); ``ctx.features()``
        embeds every training item (e.g. for clustering)."""

    def sampling_weights(self) -> torch.Tensor | None:
        """Per-item weights (N,) the engine draws the epoch's items from (with replacement); ``None``
        keeps the plain shuffled pass. Must depend only on state saved in ``state_dict`` (resume)."""
        return None

    def on_train_end(self, show_samples: bool) -> dict[str, torch.Tensor]:
        """Called once training has finished: the method's pictures by name, each an RGB image (3, H, W)
        in [0, 1], which the engine writes to ``plots/<name>.png`` and sends to the trackers.

        ``show_samples`` False: the data may identify people (a patient's face, burned-in names), so
        no picture may show an input's pixels."""
        return {}


def input_of_kind(inputs: dict[str, InputSpec], kind: str) -> str:
    """The name of the one input of ``kind`` among ``inputs`` (a method of several inputs picks its
    inputs by kind, never by a domain's names for them)."""
    names = [name for name, spec in inputs.items() if spec.kind == kind]
    if len(names) != 1:
        raise ValueError(f"expected one {kind} input, got {len(names)} among {', '.join(inputs)}")
    return names[0]


def view_tensors(views: list[Sample]) -> list[torch.Tensor]:
    """The input tensor of each view, for methods that train on one input (an image, a spectrogram)."""
    return [only_input(view) for view in views]
