"""Medical images: DICOM archives (CT, MR, CR/DX, US, NM, RT dose, ...) as (3, H, W) float tensors.

Reading (``scan``): files found by content, grouped into series and ordered along the slice
normal. Decoding (``decode``): one frame at a time with pydicom 3 and permissively licensed
plugins, modality LUT to Hounsfield units for CT. Windowing (``window``): the canonical tensor
is in window units, 0/1 = the window's lower/upper edge, unclipped. Views (``views``): no
colour jitter; window jitter, gamma/contrast, noise, blur, mild crops and small rotations.
Privacy (``privacy``): items are named by a salted hash kept in the run directory.

Run options (the ``views`` table of a run's config, fixed for embed/eval of that run):
- ``window``: ``auto`` (default), ``file``, ``multi``, ``percentile`` or a CT preset (``lung``,
  ``mediastinum``, ``bone``, ``brain``, ``wide``); see ``window``.
- ``sample``: ``2d`` (default): each slice or frame is one item, its window replicated to three
  channels (or three windows with ``multi``). ``2.5d``: each slice is one item whose channels are the
  previous, the slice itself and the next slice of its stack (the slice itself again at either end).
  Volumes are never loaded whole: a volume is its ordered slices, so memory does not depend on depth.
The three channels keep ImageNet-style backbones usable unchanged.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import model_validator
from sslcli.domains.base import SAMPLE_CPU_BUDGET_S, Domain, InputSpec, Item, Sample
from sslcli.domains.discovery import BadItemError
from sslcli.domains.medical.decode import Frame, read_frame
from sslcli.domains.medical.privacy import SAFE_ATTRIBUTES, item_hash, run_salt, save_salt
from sslcli.domains.medical.sample import materialise_dicom_sample
from sslcli.domains.medical.scan import DicomItem, Slice, discover_dicom
from sslcli.domains.medical.views import (
    WINDOW_UNITS,
    MedicalViewOptions,
    medical_eval_record,
    medical_eval_transform,
    medical_transform,
)
from sslcli.domains.medical.window import WINDOW_MODES, to_canonical
from sslcli.domains.options import MultiCropOptions, ViewOptions
from typing_extensions import Self

SAMPLE_MODES = ("2d", "2.5d")


class MedicalSettings(ViewOptions):
    """How items become tensors, fixed per run (see the module docstring)."""

    window: Literal[WINDOW_MODES] = "auto"
    sample: Literal[SAMPLE_MODES] = "2d"

    @model_validator(mode="after")
    def _one_use_of_the_channels(self) -> Self:
        if self.window == "multi" and self.sample == "2.5d":
            raise ValueError("window 'multi' and sample '2.5d' both fill the three channels; choose one")
        return self


class MedicalOptions(MedicalSettings, MedicalViewOptions, MultiCropOptions):
    """Every ``views`` option of DICOM images."""


# unbound instances (library use) share one random salt per process: ids not mappable back
PROCESS_SALT = secrets.token_bytes(32)


def neighbour_frame(slice_: Slice | None, centre: Frame) -> Frame:
    """The neighbouring slice, or ``centre`` again at a stack's end or when the neighbour is unusable
    (it is reported on its own item)."""
    if slice_ is None:
        return centre
    try:
        frame = read_frame(*slice_)
    except BadItemError:
        return centre
    return frame if frame.values.shape == centre.values.shape and not frame.colour else centre


class MedicalDomain(Domain):
    Options = MedicalOptions
    name = "medical"
    description = "DICOM (CT, MR, CR, US, NM, ...; JPEG, JPEG-LS, JPEG 2000, RLE; multi-frame), hashed ids"
    default_input_size = 224
    default_backbone = "resnet18"
    identifying_paths = True

    def __init__(self) -> None:
        super().__init__()
        self.salt = PROCESS_SALT  # ``bind_run`` sets the run's own

    def bind_run(self, run_dir: Path, create: bool) -> None:
        self.salt = run_salt(run_dir, create)

    def save_run_state(self, run_dir: Path) -> None:
        save_salt(run_dir, self.salt)

    def keyed_fingerprint(self, text: str) -> str:
        return item_hash(self.salt, text)

    def inputs(self, input_size: int) -> dict[str, InputSpec]:
        # three channels of window units (one window replicated, three windows, or 2.5-D slices)
        return {"image": InputSpec("image2d", 3, (input_size, input_size), normalisation=WINDOW_UNITS)}

    def discover(self, root: Path) -> list[Item]:
        return discover_dicom(root, self.salt)

    def load(self, item: Item, inputs: Collection[str] | None = None) -> Sample:
        if not isinstance(item, DicomItem):
            raise BadItemError("not a DICOM item")
        centre = read_frame(item.path, item.frame)
        neighbours = []
        if self.options.sample == "2.5d" and not centre.colour:
            neighbours = [neighbour_frame(slice_, centre) for slice_ in item.neighbours]
        canonical = to_canonical(centre, neighbours, self.options.window)  # (3, H, W) window units
        return {"image": torch.from_numpy(canonical)}

    def augment(self, input_size: int, options: MedicalOptions):
        return medical_transform(input_size, options)

    def eval_transform(self, input_size: int):
        return medical_eval_transform(input_size)

    def preprocessing(self, input_size: int) -> dict[str, dict[str, Any]]:
        decode = (
            "DICOM frame (modality LUT; CT in HU) to window units, 0 and 1 the window's lower and upper "
            f"edge, unclipped: window {self.options.window!r}, sample {self.options.sample!r} "
            "(2.5d: the channels are the previous, this and the next slice)"
        )
        return {"image": {"decode": decode, **medical_eval_record(input_size)}}

    def describe_item(self, item: Item) -> str:
        return f"DICOM item {item.item_id}"

    def label_from_attribute(self, item: Item, name: str) -> str | None:
        if name not in SAFE_ATTRIBUTES:
            allowed = ", ".join(SAFE_ATTRIBUTES)
            raise ValueError(f"--label-attr must be one of the non-identifying attributes {allowed}")
        return dict(getattr(item, "attributes", ())).get(name)

    def builtin_sample(self) -> tuple[Path, Path]:
        return materialise_dicom_sample()

    def recipe(
        self, data_is_builtin: bool, items: Sequence[Item] = (), device_type: str = "cpu"
    ) -> dict[str, Any]:
        views = {**MedicalSettings().model_dump(), **MedicalViewOptions().model_dump()}
        if not data_is_builtin:
            return {"input_size": self.default_input_size, "backbone": self.default_backbone, "views": views}
        # ~140 images of mixed size: 32 px, the one-block-per-stage ResNet and batch 32 keep 10 CPU
        # epochs to minutes (the generic batch of 256 is larger than the whole sample)
        recipe = {"input_size": 32, "backbone": "resnet10", "views": views, "batch_size": 32}
        return recipe | {"cpu_budget_s": SAMPLE_CPU_BUDGET_S}
