"""BYOL: Grill, Strub, Altché, Tallec, Richemond, et al., "Bootstrap Your Own Latent: A New Approach to
Self-Supervised Learning", NeurIPS 2020.

An online network (backbone, projector, predictor) regresses the projection that an EMA target
network makes of the other view; no negatives. Paper defaults: 4096-d hidden layers, 256-d output,
target decay rising from 0.996 to 1 on a cosine schedule over training. The target is a frozen
submodule (saved in checkpoints, skipped by the optimizer).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from sslcli.methods.base import ANY_KIND, Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.methods.momentum import cosine_momentum, ema_update, frozen_copy
from sslcli.methods.options import Count, Fraction
from sslcli.models.heads import ProjectionHead
from sslcli.registry import METHODS


def byol_regression(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ||p/|p| - z/|z|||^2 = 2 - 2 cos(p, z); inputs (B, P)."""
    return (2 - 2 * F.cosine_similarity(prediction, target, dim=1)).mean()


@METHODS.register
class BYOL(Method):
    name = "byol"
    description = "siamese: EMA target network (cosine decay schedule), predictor, no negatives"
    paper = "Grill et al., NeurIPS 2020"
    family = "two_views"
    accepts = (ANY_KIND,)  # only pooled embeddings of two views: every kind a domain augments

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        projection_dim: Count = 256,
        hidden_dim: Count = 4096,
        base_momentum: Fraction = 0.996,
    ):
        super().__init__(backbone, feature_dim)
        self.base_momentum = base_momentum
        self.projector = ProjectionHead(feature_dim, hidden_dim, projection_dim)
        self.predictor = ProjectionHead(projection_dim, hidden_dim, projection_dim)
        self.target_backbone, self.target_projector = frozen_copy(backbone), frozen_copy(self.projector)

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        view_a, view_b = view_tensors(views)  # (B, C, H, W) each
        batch = view_a.shape[0]
        both = torch.cat([view_a, view_b])  # (2B, C, H, W)
        prediction = self.predictor(self.projector(self.backbone(both)))  # (2B, P)
        with torch.no_grad():
            target = self.target_projector(self.target_backbone(both))  # (2B, P)
        return StepOutput(
            byol_regression(prediction[:batch], target[batch:])
            + byol_regression(prediction[batch:], target[:batch])
        )

    def on_step_end(self, ctx: StepContext) -> None:
        momentum = cosine_momentum(ctx.step, ctx.total_steps, self.base_momentum)
        ema_update(self.target_backbone, self.backbone, momentum)
        ema_update(self.target_projector, self.projector, momentum)
