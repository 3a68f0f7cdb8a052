"""Pretext augmentations for medical images (canonical tensors in window units, see window.py).

No colour jitter: intensity means tissue (HU) and hue does not exist. Instead:
- random resized crop, scale 0.35-1 (SimCLR uses 0.08-1; small crops of a slice are mostly air or
  background, so the milder range keeps anatomy in every view; MONAI's SSL tutorial crops similarly),
- horizontal flip p 0.5 (left/right anatomy is near-symmetric); vertical flip off (head/feet is not),
- rotation of at most 10 degrees (patient positioning varies a little, never by much),
- window jitter p 0.8: the display window's centre moves by up to 10% of its width and its width is
  scaled by 0.8-1.25 (the radiologist's window adjustment, the medical analogue of brightness/contrast),
- gamma 0.7-1.5 p 0.5 (a random monotonic intensity curve, after Models Genesis' non-linear
  transformation, Zhou et al. MICCAI 2019) and contrast 0.75-1.25 p 0.5 (MONAI ``RandAdjustContrast``),
- Gaussian noise sigma up to 0.05 p 0.5 (MONAI ``RandGaussianNoise``), Gaussian blur p 0.5 with sigma
  0.1-2 px at 224 px, scaled with the input (SimCLR's blur).
Every parameter is overridable through the ``views`` options.
"""

from __future__ import annotations

from typing import Any

import torch
from sslcli.domains.base import resize_crop_normalise
from sslcli.domains.inputs import ChannelNormalisation
from sslcli.domains.options import CropScale, NonNegative, PositiveRange, Probability, ViewOptions
from torchvision.transforms import v2

MEAN, STD = 0.5, 0.25  # window units [0, 1] -> about [-2, 2]
WINDOW_UNITS = ChannelNormalisation((MEAN,) * 3, (STD,) * 3)


class MedicalViewOptions(ViewOptions):
    crop_scale: CropScale = (0.35, 1.0)
    hflip_p: Probability = 0.5
    vflip_p: Probability = 0.0
    rotate_degrees: NonNegative = 10.0
    window_p: Probability = 0.8
    window_shift: NonNegative = 0.1  # of the window width
    window_scale: PositiveRange = (0.8, 1.25)
    gamma_p: Probability = 0.5
    gamma: PositiveRange = (0.7, 1.5)
    contrast_p: Probability = 0.5
    contrast: PositiveRange = (0.75, 1.25)
    noise_p: Probability = 0.5
    noise_sigma: NonNegative = 0.05
    blur_p: Probability = 0.5
    blur_sigma: PositiveRange = (0.1, 2.0)


def uniform(low: float, high: float) -> float:
    return low + (high - low) * torch.rand(()).item()


def coin(p: float) -> bool:
    return p > 0 and torch.rand(()).item() < p


class IntensityAugment:
    """Window jitter, clip to [0, 1], gamma, contrast and noise on a (C, H, W) window-unit tensor."""

    def __init__(self, opts: MedicalViewOptions):
        self.opts = opts

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        o = self.opts
        if coin(o.window_p):  # new window in window units: centre 0.5 + shift, width * scale
            centre = 0.5 + uniform(-o.window_shift, o.window_shift)
            x = (x - centre) / uniform(*o.window_scale) + 0.5
        x = x.clamp(0.0, 1.0)
        if coin(o.gamma_p):
            x = x.pow(uniform(*o.gamma))
        if coin(o.contrast_p):
            mean = x.mean(dim=(-2, -1), keepdim=True)  # (C, 1, 1)
            x = ((x - mean) * uniform(*o.contrast) + mean).clamp(0.0, 1.0)
        if coin(o.noise_p):
            x = x + torch.randn_like(x[:1]) * uniform(0.0, o.noise_sigma)  # (1, H, W): same on every channel
        return x


class Clip:
    """Clip window units to the window, [0, 1] (a class, so data-loader workers can pickle it)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(0.0, 1.0)


def medical_transform(input_size: int, opts: MedicalViewOptions) -> v2.Compose:
    """(3, H, W) window units -> one normalised (3, input_size, input_size) view."""
    kernel = max(3, int(0.1 * input_size) // 2 * 2 + 1)  # odd, ~10% of the side
    sigma = tuple(s * input_size / 224 for s in opts.blur_sigma)
    return v2.Compose(
        [
            v2.RandomResizedCrop(input_size, scale=opts.crop_scale, antialias=True),
            v2.RandomHorizontalFlip(opts.hflip_p),
            v2.RandomVerticalFlip(opts.vflip_p),
            v2.RandomRotation(opts.rotate_degrees, interpolation=v2.InterpolationMode.BILINEAR),
            IntensityAugment(opts),
            v2.RandomApply([v2.GaussianBlur(kernel, sigma=sigma)], p=opts.blur_p),
            v2.Normalize([MEAN] * 3, [STD] * 3),
        ]
    )


def medical_eval_record(input_size: int) -> dict[str, Any]:
    """What ``medical_eval_transform`` does, for ``Domain.preprocessing``."""
    steps = ["decode", "resize", "center_crop", "clip", "normalize"]
    return {"steps": steps, **resize_crop_normalise(input_size, [MEAN] * 3, [STD] * 3), "clip": [0.0, 1.0]}


def medical_eval_transform(input_size: int) -> v2.Compose:
    """Deterministic: resize the short side, centre crop, clip to the window, normalise."""
    return v2.Compose(
        [
            v2.Resize(input_size, antialias=True),
            v2.CenterCrop(input_size),
            Clip(),
            v2.Normalize([MEAN] * 3, [STD] * 3),
        ]
    )
