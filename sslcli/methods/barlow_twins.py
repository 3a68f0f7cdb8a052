"""Barlow Twins: Zbontar, Jing, Misra, LeCun, Deny, "Barlow Twins: Self-Supervised Learning via
Redundancy Reduction", ICML 2021.

The cross-correlation matrix of the two views' batch-standardised embeddings is pushed towards the
identity: sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2, lambda = 5e-3. The paper's projector has
three 8192-d layers; the default here is 2048-d (pass ``projection_dim``/``hidden_dim`` for more).
Under torchrun the embeddings of every rank are gathered first, so the batch statistics and the
correlation are the global batch's, as in the authors' code.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from sslcli.methods.base import ANY_KIND, Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.methods.options import Count, NonNegative
from sslcli.models.heads import ProjectionHead
from sslcli.registry import METHODS


def standardise(z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Zero mean, unit (biased) variance per dimension over the batch; (B, D) -> (B, D)."""
    return (z - z.mean(dim=0)) / torch.sqrt(z.var(dim=0, unbiased=False) + eps)


def barlow_twins_loss(z_a: torch.Tensor, z_b: torch.Tensor, off_diagonal_weight: float) -> torch.Tensor:
    """Redundancy-reduction loss of two (B, D) embeddings."""
    correlation = standardise(z_a).T @ standardise(z_b) / z_a.shape[0]  # (D, D)
    diagonal = torch.diagonal(correlation)  # (D,)
    on_diagonal = (1 - diagonal).pow(2).sum()
    off_diagonal = correlation.pow(2).sum() - diagonal.pow(2).sum()
    return on_diagonal + off_diagonal_weight * off_diagonal


@METHODS.register
class BarlowTwins(Method):
    name = "barlow_twins"
    description = "redundancy reduction: cross-correlation of two views' embeddings -> identity"
    paper = "Zbontar et al., ICML 2021"
    family = "two_views"
    accepts = (ANY_KIND,)  # only pooled embeddings of two views: every kind a domain augments

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        projection_dim: Count = 2048,
        hidden_dim: Count = 2048,
        off_diagonal_weight: NonNegative = 5e-3,
    ):
        super().__init__(backbone, feature_dim)
        self.off_diagonal_weight = off_diagonal_weight
        self.projector = ProjectionHead(feature_dim, hidden_dim, projection_dim, num_layers=3)

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        view_a, view_b = view_tensors(views)  # (B, C, H, W) each
        batch = view_a.shape[0]
        z = self.projector(self.backbone(torch.cat([view_a, view_b]))).float()  # (2B, D)
        z_a, z_b = ctx.world.gather(z[:batch]), ctx.world.gather(z[batch:])  # (world * B, D) each
        return StepOutput(barlow_twins_loss(z_a, z_b, self.off_diagonal_weight))
