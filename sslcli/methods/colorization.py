"""Colorization: Zhang, Isola, Efros, "Colorful Image Colorization", ECCV 2016.

Each view is converted to CIE Lab (sRGB, D65 white); the backbone sees only the lightness L, shown as
the neutral grey of the same lightness (so the encoder later embeds ordinary images of that
modality), and a pixel decoder predicts the a and b channels. The paper classifies ab into 313
quantised bins with class rebalancing; this is the plain L2 regression variant it compares against
(ab scaled by 1/110). Colour images only; the input's ``InputSpec.normalisation`` is undone to get RGB
in [0, 1] (none: the views are RGB in [0, 1]).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from sslcli.domains import InputSpec
from sslcli.methods.base import Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.models.decoders import PixelDecoder
from sslcli.registry import METHODS

AB_SCALE = 110.0
SRGB_TO_XYZ = torch.tensor(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)

D65_WHITE = torch.tensor([0.95047, 1.0, 1.08883])
DELTA = 6 / 29


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    return torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    linear = linear.clamp(min=0)
    return torch.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] (B, 3, H, W) -> CIE Lab (B, 3, H, W): L in [0, 100], a and b roughly in [-128, 127]."""
    matrix, white = SRGB_TO_XYZ.to(rgb), D65_WHITE.to(rgb)
    xyz = torch.einsum("ij,bjhw->bihw", matrix, srgb_to_linear(rgb)) / white[None, :, None, None]
    f = torch.where(xyz > DELTA**3, xyz.clamp(min=DELTA**3) ** (1 / 3), xyz / (3 * DELTA**2) + 4 / 29)
    fx, fy, fz = f.unbind(dim=1)  # (B, H, W) each
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def lightness_to_grey(lightness: torch.Tensor) -> torch.Tensor:
    """L (B, 1, H, W) -> the neutral sRGB grey (a = b = 0) of that lightness, (B, 3, H, W) in [0, 1]."""
    fy = (lightness + 16) / 116
    y = torch.where(fy > DELTA, fy**3, 3 * DELTA**2 * (fy - 4 / 29))  # relative luminance Y / Yn
    return linear_to_srgb(y).clamp(0, 1).expand(-1, 3, -1, -1)


def channel_statistics(spec: InputSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-channel mean and std (1, C, 1, 1) the views normalised with (0 and 1 where none)."""
    norm = spec.normalisation
    mean = torch.tensor(norm.mean if norm else (0.0,) * spec.channels)
    std = torch.tensor(norm.std if norm else (1.0,) * spec.channels)
    return mean[None, :, None, None], std[None, :, None, None]


def split_lightness(
    views: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised RGB views (B, 3, H, W) -> normalised grey input (B, 3, H, W) and ab / 110 (B, 2, H, W);
    ``mean`` and ``std`` (1, 3, 1, 1): the normalisation of the views."""
    mean, std = mean.to(views.device), std.to(views.device)
    lab = rgb_to_lab((views.float() * std + mean).clamp(0, 1))  # (B, 3, H, W)
    grey = (lightness_to_grey(lab[:, :1]) - mean) / std
    return grey, lab[:, 1:] / AB_SCALE


@METHODS.register
class Colorization(Method):
    name = "colorization"
    description = "pretext: predict the ab colour channels from the L channel (CIE Lab)"
    paper = "Zhang et al., ECCV 2016"
    family = "one_view"
    accepts = ("image2d",)
    needs_colour = True  # predicts colour from luminance

    def __init__(self, backbone: nn.Module, feature_dim: int, spec: InputSpec):
        super().__init__(backbone, feature_dim)
        self.decoder = PixelDecoder(feature_dim, 2, spec.size)  # the a and b channels
        self.mean, self.std = channel_statistics(spec)  # (1, 3, 1, 1) each

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        (images,) = view_tensors(views)  # (B, 3, H, W)
        grey, ab = split_lightness(images, self.mean, self.std)  # (B, 3, H, W), (B, 2, H, W)
        predicted = self.decoder(self.backbone(grey.to(images.dtype)))  # (B, 2, H, W)
        return StepOutput(F.mse_loss(predicted.float(), ab))
