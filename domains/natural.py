"""Natural images: JPEG/PNG/BMP/TIFF/WebP files as 3xHxW float tensors in [0, 1].

Views follow SimCLR (Chen et al., ICML 2020, appendix A): random resized crop, horizontal flip,
colour jitter, random grayscale and Gaussian blur, every parameter overridable; solarize (BYOL's)
is optional. ``augment_on`` picks where the colour stages run: per item on the CPU (the loader's
workers), or on whole batches on the training device (``batch_views``) after a per-item crop and flip.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import Field
from sslcli.domains.base import Domain, InputSpec, Item, Sample, resize_crop_normalise
from sslcli.domains.batch_views import BatchColourViews
from sslcli.domains.digits_sample import materialise_digits
from sslcli.domains.discovery import DIRECTORY, BadItemError, discover_files
from sslcli.domains.inputs import ChannelNormalisation
from sslcli.domains.natural_recipe import folder_recipe
from sslcli.domains.options import (
    CropScale,
    MultiCropOptions,
    NonNegative,
    PositiveRange,
    Probability,
    ViewOptions,
)
from torchvision.transforms import v2

# the first command (README): pretrain and eval of the built-in digits within 6 minutes on 2 CPU cores
DEMO_CPU_BUDGET_S = 4 * 60.0
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET = ChannelNormalisation(IMAGENET_MEAN, IMAGENET_STD)


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """Any PIL mode -> (3, H, W) float32 in [0, 1]; 16/32-bit integer and float images keep their depth."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        array = np.asarray(image, dtype=np.float32) / 65535.0
    elif image.mode == "I":  # 16-bit PNGs decode to 32-bit int holding 0..65535
        array = np.asarray(image, dtype=np.float32)
        array = array / (65535.0 if array.max(initial=0) > 255 else 255.0)
    elif image.mode == "F":
        array = np.asarray(image, dtype=np.float32)
        low, high = float(array.min(initial=0)), float(array.max(initial=1))
        array = (array - low) / max(high - low, 1e-12)
    else:
        array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0  # palette/RGBA/CMYK/1-bit/L
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.ndim == 2:  # (H, W) grayscale -> (3, H, W)
        return tensor.unsqueeze(0).expand(3, -1, -1).clone()
    return tensor.permute(2, 0, 1).contiguous()  # (H, W, 3) -> (3, H, W)


def first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def upright(image: Image.Image) -> Image.Image:
    """``image`` turned as its EXIF Orientation tag says (camera photos); unchanged without one. A
    malformed EXIF block only loses the orientation, not the picture."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # Pillow raises several types on broken EXIF
        return image


def read_image(path: Path) -> torch.Tensor:
    """Decode one image file fully; every failure becomes a ``BadItemError`` with a short reason.

    ``Domain.load`` has checked the entry with ``stat`` (a FIFO would block the open forever)."""
    try:
        if path.stat().st_size == 0:
            raise BadItemError("empty file (0 bytes)")
        with Image.open(path) as image:
            image.load()
            return image_to_tensor(upright(image))
    except BadItemError:
        raise
    except UnidentifiedImageError:
        raise BadItemError("not a readable image (unknown or corrupt format)") from None
    except Image.DecompressionBombError as err:
        raise BadItemError(f"image too large, possible decompression bomb ({first_line(err)})") from None
    except OSError as err:
        if err.errno is not None:  # the file system's error (permissions, I/O), not the decoder's
            raise BadItemError(f"cannot read file ({err.strerror})") from None
        raise BadItemError(f"corrupt or truncated image ({first_line(err)})") from None
    except (SyntaxError, ValueError) as err:
        raise BadItemError(f"corrupt or truncated image ({first_line(err)})") from None
    except Exception as err:  # any other decoder failure is this file's problem, never a crash
        raise BadItemError(f"cannot decode image ({type(err).__name__}: {first_line(err)})") from None


class SimCLRViewOptions(ViewOptions):
    """SimCLR augmentation parameters (Chen et al., ICML 2020, appendix A). Blur: kernel 10% of the
    input, sigma scaled by input/224. ``jitter``: brightness, contrast, saturation, hue strengths.
    ``solarize_p``: pixels from 0.5 up become 1 - x (BYOL, Grill et al., NeurIPS 2020; off here)."""

    crop_scale: CropScale = (0.08, 1.0)
    flip_p: Probability = 0.5
    jitter: tuple[NonNegative, NonNegative, NonNegative, Annotated[float, Field(ge=0, le=0.5)]] = (
        0.8,
        0.8,
        0.8,
        0.2,
    )
    jitter_p: Probability = 0.8
    grayscale_p: Probability = 0.2
    blur_p: Probability = 0.5
    blur_sigma: PositiveRange = (0.1, 2.0)
    solarize_p: Probability = 0.0

    def blur(self, input_size: int) -> tuple[int, tuple[float, float]]:
        """The Gaussian blur's (kernel size, sigma range) at ``input_size``: odd, ~10% of the side."""
        kernel = max(3, int(0.1 * input_size) // 2 * 2 + 1)
        low, high = (s * input_size / 224 for s in self.blur_sigma)
        return kernel, (low, high)


class AugmentOnOptions(ViewOptions):
    """Where the colour stages run: ``cpu`` per item in the loader's workers; ``device`` on whole
    batches on the training device, per-sample parameters (``batch_views``); ``auto``: the device
    when it is CUDA."""

    augment_on: Literal["auto", "cpu", "device"] = "auto"


def crop_flip(input_size: int, opts: SimCLRViewOptions) -> list[v2.Transform]:
    """The stages that need the image's own size: random resized crop to ``input_size``, flip."""
    return [
        v2.RandomResizedCrop(input_size, scale=opts.crop_scale, antialias=True),
        v2.RandomHorizontalFlip(opts.flip_p),
    ]


def simclr_transform(input_size: int, opts: SimCLRViewOptions) -> v2.Compose:
    kernel, sigma = opts.blur(input_size)
    # solarize only when asked for: its gate draws a number, which would shift every later view's draws
    solarize = [v2.RandomSolarize(threshold=0.5, p=opts.solarize_p)] if opts.solarize_p > 0 else []
    return v2.Compose(
        [
            *crop_flip(input_size, opts),
            v2.RandomApply([v2.ColorJitter(*opts.jitter)], p=opts.jitter_p),
            v2.RandomGrayscale(opts.grayscale_p),
            v2.RandomApply([v2.GaussianBlur(kernel, sigma=sigma)], p=opts.blur_p),
            *solarize,
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


class NaturalOptions(SimCLRViewOptions, AugmentOnOptions, MultiCropOptions):
    """Every ``views`` option of natural images."""


class NaturalDomain(Domain):
    Options = NaturalOptions
    name = "natural"
    description = "photos and other RGB/grayscale images (jpg, png, bmp, tiff, webp; 8/16-bit)"
    default_input_size = 224
    default_backbone = "resnet18"

    def __init__(self) -> None:
        super().__init__()
        self.device = torch.device("cpu")  # the training device (``use_device``)
        self.batch_views: BatchColourViews | None = None  # set by ``views`` when colour runs there

    def use_device(self, device: torch.device) -> None:
        self.device = device

    def on_device(self) -> bool:
        """Whether the run's colour stages run on the training device (``AugmentOnOptions``)."""
        place = self.options.augment_on
        return place == "device" or (place == "auto" and self.device.type == "cuda")

    def inputs(self, input_size: int) -> dict[str, InputSpec]:
        size = (input_size, input_size)
        return {"image": InputSpec("image2d", 3, size, colour=True, normalisation=IMAGENET)}

    def discover(self, root: Path) -> list[Item]:
        # every entry named like an image: a directory, FIFO or broken link among them becomes an item
        # whose load says why (counted as skipped), never silently dropped
        return [entry.item(DIRECTORY) for entry in discover_files(root, IMAGE_SUFFIXES)]

    def load(self, item: Item, inputs: Collection[str] | None = None) -> Sample:
        return {"image": read_image(item.path)}  # (C, H, W)

    def views(self, family: str, input_size: int):
        """The base class's views; when the colour stages run on the device, the augmenting families'
        views are crop and flip only, and ``batch_augment`` finishes them there."""
        view_fn = super().views(family, input_size)
        self.batch_views = None
        if family != "plain" and self.on_device():
            self.batch_views = BatchColourViews(self.options, IMAGENET_MEAN, IMAGENET_STD)
        return view_fn

    def augment(self, input_size: int, options: NaturalOptions) -> v2.Compose:
        if self.on_device():
            return v2.Compose(crop_flip(input_size, options))  # (3, S, S) in [0, 1], not normalised
        return simclr_transform(input_size, options)

    def batch_augment(self, views: list[Sample]) -> list[Sample]:
        """The colour stages on each view's batch (3-channel, any side: multi-crop's local crops too)."""
        if self.batch_views is None:
            return views
        return [{"image": self.batch_views(view["image"])} for view in views]  # (B, 3, S, S) each

    def eval_transform(self, input_size: int):
        return v2.Compose(
            [
                v2.Resize(input_size, antialias=True),
                v2.CenterCrop(input_size),
                v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            ]
        )

    def preprocessing(self, input_size: int) -> dict[str, dict[str, Any]]:
        decode = (
            "RGB float32 in [0, 1] (8-bit / 255, 16-bit / 65535), grayscale replicated to 3 channels, "
            "EXIF orientation applied"
        )
        steps = ["decode", "resize", "center_crop", "normalize"]
        return {
            "image": {
                "decode": decode,
                "steps": steps,
                **resize_crop_normalise(input_size, IMAGENET_MEAN, IMAGENET_STD),
            }
        }

    def builtin_sample(self) -> tuple[Path, Path]:
        return materialise_digits()

    def recipe(
        self, data_is_builtin: bool, items: Sequence[Item] = (), device_type: str = "cpu"
    ) -> dict[str, Any]:
        if not data_is_builtin:
            return folder_recipe(items, device_type, SimCLRViewOptions().model_dump())
        # 8x8 digits: tiny inputs; strong crops destroy the glyph and flips change its meaning.
        views = SimCLRViewOptions(crop_scale=(0.4, 1.0), flip_p=0.0, blur_p=0.0).model_dump()
        # AdamW lr 2e-3 gave held-out kNN 0.969 where the generic 1e-3 * B/256 = 5e-4 gave 0.958 (resnet18,
        # 15 epochs); the one-block resnet10 at 40 epochs takes ~7 CPU minutes and gave 0.983, above the
        # raw pixels' 0.969 (resnet18 at 15 epochs: 0.969, level with them)
        return {
            "input_size": 16,
            "backbone": "resnet10",
            "views": views,
            "epochs": 40,
            "batch_size": 128,
            "lr": 2e-3,
            "cpu_budget_s": DEMO_CPU_BUDGET_S,
        }
