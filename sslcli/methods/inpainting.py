"""Inpainting (context encoder): Pathak, Krähenbühl, Donahue, Darrell, Efros, "Context Encoders:
Feature Learning by Inpainting", CVPR 2016.

The central square (half the side, a quarter of the area, as in the paper) is blanked to zero — the
dataset mean after the domain's normalisation — the backbone encodes the context and a pixel decoder
paints the hole; the loss is the L2 reconstruction error on the hole. The paper's adversarial term
is left out (it sharpens the pictures, not the features).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from sslcli.domains import InputSpec
from sslcli.methods.base import Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.methods.options import OpenFraction
from sslcli.models.decoders import PixelDecoder
from sslcli.registry import METHODS


def hole_bounds(size: int, fraction: float) -> tuple[int, int]:
    """[start, stop) of a centred hole covering ``fraction`` of the side ``size`` (at least 1 pixel)."""
    hole = max(1, round(size * fraction))
    start = (size - hole) // 2
    return start, start + hole


def cut_centre(images: torch.Tensor, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) -> images with the centre zeroed (B, C, H, W) and the removed pixels (B, C, h, w)."""
    (top, bottom), (left, right) = (hole_bounds(side, fraction) for side in images.shape[-2:])
    hole = images[:, :, top:bottom, left:right].clone()
    context = images.clone()
    context[:, :, top:bottom, left:right] = 0
    return context, hole


@METHODS.register
class Inpainting(Method):
    name = "inpainting"
    description = "pretext: context encoder paints the blanked centre of the image (L2 on the hole)"
    paper = "Pathak et al., CVPR 2016"
    family = "one_view"
    accepts = ("image2d",)

    def __init__(
        self, backbone: nn.Module, feature_dim: int, spec: InputSpec, hole_fraction: OpenFraction = 0.5
    ):
        super().__init__(backbone, feature_dim)
        self.hole_fraction = hole_fraction
        hole = tuple(stop - start for start, stop in (hole_bounds(side, hole_fraction) for side in spec.size))
        self.decoder = PixelDecoder(feature_dim, spec.channels, hole)

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        context, hole = cut_centre(view_tensors(views)[0], self.hole_fraction)  # (B, C, H, W), (B, C, h, w)
        painted = self.decoder(self.backbone(context))  # (B, C, h, w)
        return StepOutput(F.mse_loss(painted.float(), hole.float()))
