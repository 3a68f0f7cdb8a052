"""The natural-image recipe for a user's folder: input size, backbone, batch and view strength chosen
from the images' sizes and the training device.

A CPU trains under a time budget of minutes, where the cost of a step grows with the input's area and
the backbone's depth: small inputs and a shallow ResNet buy many more passes over the data, and on a
2-core CPU that is what makes features beat raw pixels at all (BENCHMARKS.md, "Default recipe"). A GPU
keeps the images' own size up to 224 px. Views of small inputs follow SimCLR's CIFAR-10 settings (Chen
et al., ICML 2020, appendix B.9): colour jitter at half strength, no blur, and crops of at least 20%
of the image, which stays recognisable at 16-32 px. Small grayscale images (digits, glyphs, icons,
characters) have no colour for the jitter to hide, so the crop is most of the views' strength: they
get crops of at least 40% and no flips, the built-in digits' views (a mirrored glyph is another glyph).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image
from sslcli.domains.base import Item
from sslcli.domains.discovery import regular_file_problem

PROBED_FILES = 256  # headers read, spread evenly over the folder
SMALL_INPUT = 64  # at or below this side, views follow SimCLR's small-image settings
CPU_MAX_INPUT = 16
GPU_MIN_INPUT, GPU_MAX_INPUT = 32, 224
INPUT_STEP = 8


@dataclass(frozen=True)
class FolderImages:
    """What the probed headers say about a folder's images."""

    short_side: int | None  # the median of min(width, height); None if no header could be read
    grayscale: bool  # most readable images have one luminance band (PIL modes 1, L, LA, I, F, I;16)


def probe_headers(items: Sequence[Item]) -> FolderImages:
    """Sizes and colour modes of up to ``PROBED_FILES`` headers spread evenly over ``items``;
    unreadable files are left to training's own error handling."""
    step = max(1, len(items) // PROBED_FILES)
    sides, grey = [], 0
    for item in items[::step][:PROBED_FILES]:
        if regular_file_problem(item.path):  # a FIFO would block the open; links may dangle
            continue
        try:
            with Image.open(item.path) as image:  # the header only: nothing is decoded
                sides.append(min(image.size))
                grey += Image.getmodebase(image.mode) == "L"
        except Exception:  # any unreadable file is a bad item that training reports
            continue
    side = round(statistics.median(sides)) if sides else None
    return FolderImages(side, 2 * grey > len(sides))


def input_size_for(short_side: int | None, device_type: str) -> int:
    """The images' own side, rounded to a multiple of ``INPUT_STEP``, within the device's range."""
    low, high = (INPUT_STEP * 2, CPU_MAX_INPUT) if device_type == "cpu" else (GPU_MIN_INPUT, GPU_MAX_INPUT)
    side = high if short_side is None else INPUT_STEP * round(short_side / INPUT_STEP)
    return min(max(side, low), high)


def small_image_views(defaults: dict[str, Any]) -> dict[str, Any]:
    """SimCLR's CIFAR-10 view strength on top of the ImageNet ``defaults``."""
    brightness, contrast, saturation, hue = defaults["jitter"]
    half = (brightness / 2, contrast / 2, saturation / 2, hue / 2)
    return {**defaults, "crop_scale": (0.2, 1.0), "jitter": half, "blur_p": 0.0}


def small_grayscale_views(defaults: dict[str, Any]) -> dict[str, Any]:
    """``small_image_views`` with crops of at least 40% and no flips (the built-in digits' crop and flip)."""
    return {**small_image_views(defaults), "crop_scale": (0.4, 1.0), "flip_p": 0.0}


def folder_recipe(items: Sequence[Item], device_type: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """Input size, backbone, batch and views for ``items`` trained on ``device_type``;
    ``defaults``: the domain's ImageNet-strength view options. The lr is the generic AdamW rule
    (1e-3 x B / 256): the built-in digits' 2e-3 at batch 128 made a few-minute run's features worse
    than its random initialisation on generated glyphs (BENCHMARKS.md, "Default recipe while tuning")."""
    images = probe_headers(items)
    input_size = input_size_for(images.short_side, device_type)
    views = defaults
    if input_size <= SMALL_INPUT:
        views = small_grayscale_views(defaults) if images.grayscale else small_image_views(defaults)
    if device_type != "cpu":
        return {"input_size": input_size, "backbone": "resnet18", "views": views}
    # many small steps: a step of 128 at 16 px takes 0.5-1.8 s on two cores, so minutes are hundreds of steps
    return {"input_size": input_size, "backbone": "resnet10", "views": views, "batch_size": 128}
