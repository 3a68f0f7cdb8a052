"""What every modality adapter provides (sslcli finds them through the ``sslcli.domains`` entry points)."""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from sslcli.domains.discovery import Item, refusing_unusable
from sslcli.domains.inputs import InputSpec
from sslcli.domains.options import MultiCropOptions
from typing_extensions import Self


class DomainError(Exception):
    """A domain's run options are invalid or its per-run state is missing or damaged; ``str(err)`` is
    the one-line message shown to the user (the CLI reports it like its own errors)."""


def segment_bounds(duration_s: float, segment_s: float) -> list[tuple[float, float]]:
    """Consecutive ``[start, end)`` stretches of ``segment_s`` covering a recording or video of
    ``duration_s``, the last one running to the end (so none is shorter than ``segment_s``)."""
    count = max(1, math.floor(duration_s / segment_s))
    return [(i * segment_s, (i + 1) * segment_s if i < count - 1 else duration_s) for i in range(count)]


def resize_crop_normalise(side: int, mean: Sequence[float], std: Sequence[float]) -> dict[str, Any]:
    """The ``Domain.preprocessing`` record of the eval resize image-like domains use (torchvision's
    ``Resize(side, antialias=True)``, ``CenterCrop(side)``, ``Normalize(mean, std)``)."""
    return {
        "resize": {"shorter_side": side, "interpolation": "bilinear", "antialias": True},
        "center_crop": [side, side],
        "normalize": {"mean": list(mean), "std": list(std)},  # per channel: (x - mean) / std
    }


Sample = dict[str, torch.Tensor]  # one item's inputs by name, e.g. {"image": (C, H, W)}
ViewFn = Callable[[Sample], list[Sample]]  # the views a method trains on, made from one sample


def only_input(sample: Sample) -> torch.Tensor:
    """The tensor of a sample with one input (what single-input encoders and methods take)."""
    if len(sample) != 1:
        raise ValueError(f"expected a sample with one input, got inputs {', '.join(sample)}")
    return next(iter(sample.values()))


def each_input(transform: Callable[[torch.Tensor], torch.Tensor], sample: Sample) -> Sample:
    """``transform`` applied to every input of ``sample`` (for single-input domains: to the input)."""
    return {name: transform(tensor) for name, tensor in sample.items()}


# two_views: two independent augmentations (SimCLR, BYOL, ...); one_view: one augmentation (pretext tasks
# that then apply their own transform); plain: the deterministic eval resize, no augmentation;
# multi_crop: two global crops at the input size, then ``local_crops`` small crops (DINO, SwAV).
# a built-in sample's CPU run (``Domain.recipe``'s ``cpu_budget_s``): minutes, enough steps to show learning
SAMPLE_CPU_BUDGET_S = 5 * 60.0
VIEW_FAMILIES = ("two_views", "one_view", "plain", "multi_crop")

GLOBAL_CROPS = 2


class Domain(ABC):
    """A modality: how its files are found, decoded into a canonical tensor and augmented.

    A run uses one instance: built, configured with its typed ``Options`` (``configured``: the run's
    ``views`` table parsed once) and bound to the run directory (``bind_run``), then handed to every
    builder and job. Every subclass's ``load`` is wrapped so that ``refuse_unusable`` runs before it:
    an item found unusable at discovery, or whose path is now a FIFO or a broken link, never reaches
    a decoder.
    """

    # every ``views`` option the domain takes: a ``ViewOptions`` model, multi-crop's fields included
    Options: type[MultiCropOptions] = MultiCropOptions

    name: str
    description: str
    default_input_size: int
    input_size_unit: str = " px"  # what ``--input-size`` counts, after the number: " px", " frames"
    default_backbone: str
    # True where folder and file names may identify people (patient archives): sslcli then never
    # writes them, not even as a class label guessed from a sub-folder.
    identifying_paths: bool = False

    def __init__(self) -> None:
        self.options = self.Options()

    @classmethod
    def parse_options(cls, options: Mapping[str, Any]) -> MultiCropOptions:
        """The ``views`` table as ``Options``: an unknown name is a ``ValueError`` listing the valid
        ones, a bad value pydantic's ``ValidationError`` naming the field."""
        known = cls.Options.model_fields
        unknown = sorted(set(options) - set(known))
        if unknown:
            valid = ", ".join(sorted(known))
            raise ValueError(f"unknown view option(s) {', '.join(unknown)}; valid: {valid}")
        return cls.Options.model_validate_json(json.dumps(dict(options)))

    def configure(self, options: MultiCropOptions) -> None:
        """Take the run's typed options (subclasses derive from them what shapes ``inputs`` and
        loading, e.g. the frames per clip)."""
        self.options = options

    @classmethod
    def configured(cls, options: Mapping[str, Any] | None = None) -> Self:
        """A new instance configured with ``options`` (a ``views`` table), parsed once."""
        domain = cls()
        domain.configure(cls.parse_options(options or {}))
        return domain

    @abstractmethod
    def inputs(self, input_size: int) -> dict[str, InputSpec]:
        """The named inputs of this domain's samples at ``input_size`` (e.g. ``{"image": ...}``)."""

    @abstractmethod
    def discover(self, root: Path) -> list[Item]:
        """Every candidate file under ``root`` (recursively), sorted by ``rel_path``."""

    @abstractmethod
    def load(self, item: Item, inputs: Collection[str] | None = None) -> Sample:
        """Decode ``item`` into its sample (canonical tensors keyed like ``inputs``); raise
        ``BadItemError`` with a reason. ``inputs``: the names wanted (None: every one); a domain of
        several inputs decodes only those (embedding a clip's sound reads no frames)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "load" in vars(cls):
            cls.load = refusing_unusable(cls.load)

    def augment(self, input_size: int, options: MultiCropOptions) -> Callable[[torch.Tensor], torch.Tensor]:
        """The modality's random augmentation: canonical tensor -> one normalised view of ``input_size``.

        ``options`` are the domain's (``self.options``, or a multi-crop variant of them). Every domain
        of one input implements it; a domain whose samples hold several overrides ``views`` instead.
        """
        raise NotImplementedError(f"domain {self.name!r} makes its views in views()")

    def views(self, family: str, input_size: int) -> ViewFn:
        """The views a method family needs from one sample (see ``VIEW_FAMILIES``): ``augment``, or
        the eval transform, applied to its input. A domain whose samples hold several inputs (a clip
        and its sound) overrides this and ``eval_views``."""
        if family == "two_views":
            augment = self.augment(input_size, self.options)
            return lambda sample: [each_input(augment, sample), each_input(augment, sample)]
        if family == "one_view":
            augment = self.augment(input_size, self.options)
            return lambda sample: [each_input(augment, sample)]
        if family == "plain":
            plain = self.eval_views(input_size)
            return lambda sample: [plain(sample)]
        if family == "multi_crop":
            return self.multi_crop_views(input_size)
        raise ValueError(
            f"domain {self.name!r} has no {family!r} views; families: {', '.join(VIEW_FAMILIES)}"
        )

    def multi_crop_views(self, input_size: int) -> ViewFn:
        """``GLOBAL_CROPS`` crops at ``input_size``, then the local crops (see ``MultiCropOptions``),
        each drawn with the multi-crop scale as its ``crop_scale`` where the domain has one."""
        crop = self.options
        local_size = crop.local_size or max(8, round(input_size * 96 / 224))
        global_view = self.augment(input_size, self.with_crop_scale(crop.global_scale))
        local_view = self.augment(local_size, self.with_crop_scale(crop.local_scale))
        return lambda sample: (
            [each_input(global_view, sample) for _ in range(GLOBAL_CROPS)]
            + [each_input(local_view, sample) for _ in range(crop.local_crops)]
        )

    def with_crop_scale(self, scale: tuple[float, float]) -> MultiCropOptions:
        """The domain's options with ``crop_scale`` set to ``scale`` (unchanged if it has none)."""
        if "crop_scale" not in self.Options.model_fields:
            return self.options
        return self.options.model_copy(update={"crop_scale": scale})

    def use_device(self, device: torch.device) -> None:
        """Optional: learn the training device before ``views`` is called (a domain may then move some
        of its per-item augmentation into ``batch_augment`` there). Default: nothing."""
        return None

    def batch_augment(self, views: list[Sample]) -> list[Sample]:
        """Optional: augmentation of whole batches on the training device (e.g. a GPU), after the
        per-item ``views``; each view's inputs are batched, ``{"image": (B, C, H, W)}``. Draws from
        torch's global generator on that device, which checkpoints restore. Default: none."""
        return views

    def eval_transform(self, input_size: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """Deterministic resize of the canonical tensor, used by embed and eval (a domain of several
        inputs overrides ``eval_views`` instead)."""
        raise NotImplementedError(f"domain {self.name!r} makes its eval sample in eval_views()")

    def eval_views(self, input_size: int) -> Callable[[Sample], Sample]:
        """The deterministic sample embed and eval feed the encoder: ``eval_transform`` on the input."""
        transform = self.eval_transform(input_size)
        return lambda sample: each_input(transform, sample)

    def preprocessing(self, input_size: int) -> dict[str, dict[str, Any]]:
        """What ``eval_views`` does to a decoded file, per input name, as JSON for code that serves an
        exported encoder outside sslcli (``sslcli export`` writes it beside the file): the decoding,
        the ``steps`` in order, and e.g. the ``normalize`` mean and std per channel. Default: nothing
        recorded beyond the inputs' shapes."""
        return {name: {} for name in self.inputs(input_size)}

    def discovery_options(self) -> Any:
        """Optional: the configured options ``discover`` depends on (e.g. the segment length), so a
        run finds its items again only when its recipe changes them; None: it depends on none."""
        return None

    def bind_run(self, run_dir: Path, create: bool) -> None:
        """Optional: keep per-run state in ``run_dir`` before discovery (the medical domain's id salt);
        ``create`` is True when the run is being created."""
        return None

    def save_run_state(self, run_dir: Path) -> None:
        """Optional: persist what ``bind_run`` created (called once the run is valid and starts)."""
        return None

    def keyed_fingerprint(self, text: str) -> str:
        """A fingerprint of ``text`` safe to store; domains with identifying paths key it per run."""
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def describe_item(self, item: Item) -> str:
        """How error messages name ``item``; domains holding private data name it by its id only."""
        return str(item.path)

    def label_from_attribute(self, item: Item, name: str) -> str | None:
        """Attribute ``name`` of ``item`` as an eval label (``--label-attr``); ValueError if unsupported."""
        raise ValueError(f"domain {self.name!r} has no item attributes to use as labels")

    def builtin_sample(self) -> tuple[Path, Path] | None:
        """(train, test) folders of real labelled data used when ``--data`` is omitted."""
        return None

    def recipe(
        self, data_is_builtin: bool, items: Sequence[Item] = (), device_type: str = "cpu"
    ) -> dict[str, Any]:
        """Defaults this domain recommends for pretraining (input size, view options, ...), which may
        depend on the ``items`` found and the training device (``"cpu"``, ``"cuda"``)."""
        return {"input_size": self.default_input_size, "backbone": self.default_backbone, "views": {}}
