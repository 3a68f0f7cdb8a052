"""SimSiam: Chen, He, "Exploring Simple Siamese Representation Learning", CVPR 2021.

Two views through one encoder (backbone + 3-layer projector with BN on its output) and a bottleneck
predictor; the negative cosine between one view's prediction and the other's projection, with a
stop-gradient on the projection, symmetrised. Paper defaults: 2048-d projection, 512-d predictor
hidden layer.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from sslcli.methods.base import Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.methods.options import Count
from sslcli.models.heads import ProjectionHead
from sslcli.registry import METHODS


def negative_cosine(prediction: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """-cos(p, stopgrad(z)) averaged over the batch; inputs (B, P)."""
    return -F.cosine_similarity(prediction, projection.detach(), dim=1).mean()


@METHODS.register
class SimSiam(Method):
    name = "simsiam"
    description = "siamese: predictor + stop-gradient, no negatives, no momentum encoder"
    paper = "Chen & He, CVPR 2021"
    family = "two_views"
    accepts = ("image2d",)

    def __init__(
        self, backbone: nn.Module, feature_dim: int, projection_dim: Count = 2048, predictor_dim: Count = 512
    ):
        super().__init__(backbone, feature_dim)
        self.projector = nn.Sequential(
            ProjectionHead(feature_dim, projection_dim, projection_dim, num_layers=3),
            nn.BatchNorm1d(projection_dim, affine=False),
        )
        self.predictor = ProjectionHead(projection_dim, predictor_dim, projection_dim)

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        view_a, view_b = view_tensors(views)  # (B, C, H, W) each
        batch = view_a.shape[0]
        z = self.projector(self.backbone(torch.cat([view_a, view_b])))  # (2B, P)
        p = self.predictor(z)  # (2B, P)
        return StepOutput((negative_cosine(p[:batch], z[batch:]) + negative_cosine(p[batch:], z[:batch])) / 2)
