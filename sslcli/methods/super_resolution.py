"""Super-resolution as a pretext task, after SRCNN: Dong, Loy, He, Tang, "Image Super-Resolution Using
Deep Convolutional Networks", TPAMI 2016.

As in SRCNN, the input is the view reduced by ``factor`` (area averaging) and brought back to full
size by bicubic interpolation; the backbone encodes that blurred image and a pixel decoder predicts
the full-resolution view; L2 loss.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn as nn
import torch.nn.functional as F
from pydantic import Field

from sslcli.domains import InputSpec
from sslcli.methods.base import Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.models.decoders import PixelDecoder
from sslcli.registry import METHODS


def degrade(images: torch.Tensor, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) -> block means (B, C, H/f, W/f) and their bicubic upsampling (B, C, H, W)."""
    low = F.interpolate(images, scale_factor=1 / factor, mode="area")
    return low, F.interpolate(low, size=images.shape[-2:], mode="bicubic", align_corners=False)


@METHODS.register
class SuperResolution(Method):
    name = "super_resolution"
    description = "pretext: restore the full-resolution image from a downsampled-then-upsampled copy"
    paper = "Dong et al., TPAMI 2016 (SRCNN)"
    family = "one_view"
    accepts = ("image2d",)

    def __init__(
        self, backbone: nn.Module, feature_dim: int, spec: InputSpec, factor: Annotated[int, Field(ge=2)] = 2
    ):
        super().__init__(backbone, feature_dim)
        if any(side % factor for side in spec.size):
            raise ValueError(f"super_resolution: factor {factor} must divide the input size {spec.size}")
        self.factor = factor
        self.decoder = PixelDecoder(feature_dim, spec.channels, spec.size)

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        (sharp,) = view_tensors(views)  # (B, C, H, W)
        _, blurred = degrade(sharp, self.factor)  # (B, C, H, W)
        return StepOutput(F.mse_loss(self.decoder(self.backbone(blurred)).float(), sharp.float()))
