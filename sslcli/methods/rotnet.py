"""RotNet: Gidaris, Singh, Komodakis, "Unsupervised Representation Learning by Predicting Image
Rotations", ICLR 2018.

Every image of the batch is shown at 0, 90, 180 and 270 degrees (the paper's best setting feeds all
four rotations together) and a linear classifier on the pooled features predicts which rotation.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from sslcli.methods.base import Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.registry import METHODS

ROTATIONS = 4


def rotate_all(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) square images -> all four rotations (4B, C, H, W) and labels (4B,).

    Label k is a counter-clockwise rotation by k * 90 degrees; rows are grouped by k.
    """
    rotated = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(ROTATIONS)])  # (4B, C, H, W)
    labels = torch.arange(ROTATIONS, device=images.device).repeat_interleave(len(images))  # (4B,)
    return rotated, labels


@METHODS.register
class RotNet(Method):
    name = "rotnet"
    description = "pretext: classify the 4-way rotation (0/90/180/270 degrees) of each image"
    paper = "Gidaris et al., ICLR 2018"
    family = "one_view"
    accepts = ("image2d",)

    def __init__(self, backbone: nn.Module, feature_dim: int):
        super().__init__(backbone, feature_dim)
        self.classifier = nn.Linear(feature_dim, ROTATIONS)

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        rotated, labels = rotate_all(view_tensors(views)[0])  # (4B, C, H, W), (4B,)
        return StepOutput(F.cross_entropy(self.classifier(self.backbone(rotated)), labels))
