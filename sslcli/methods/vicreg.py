"""VICReg: Bardes, Ponce, LeCun, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning", ICLR 2022.

Loss = lambda * MSE(z_a, z_b) + mu * [v(z_a) + v(z_b)] / 2 + nu * [c(z_a) + c(z_b)] with the variance
hinge v(z) = mean_j max(0, 1 - sqrt(Var z_j + 1e-4)) and the covariance term c(z) = sum of squared
off-diagonal covariances / D. Paper defaults: lambda = mu = 25, nu = 1, an 8192-d three-layer
expander (2048-d here by default).

The two views' variance hinges are averaged, as in the authors' released code (facebookresearch/vicreg,
main_vicreg.py: ``std_loss = mean(relu(1 - std_x)) / 2 + mean(relu(1 - std_y)) / 2``) and in Lightly's
``VICRegLoss``. The loss equation printed in the paper writes the sum v(Z) + v(Z') without the halving
(a discrepancy raised upstream in facebookresearch/vicreg issues #8 and #26); summing doubles the
effective variance weight to 50. The covariance terms are summed in code and paper alike. Under
torchrun the embeddings of every rank are gathered first (the authors' ``FullGatherLayer``), so the
variance and covariance are the global batch's.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from sslcli.methods.base import ANY_KIND, Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.methods.options import Count, NonNegative
from sslcli.models.heads import ProjectionHead
from sslcli.registry import METHODS


def variance_term(z: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Mean hinge on the per-dimension standard deviation; z (B, D)."""
    return F.relu(1 - torch.sqrt(z.var(dim=0) + eps)).mean()


def covariance_term(z: torch.Tensor) -> torch.Tensor:
    """Sum of squared off-diagonal covariances divided by D; z (B, D)."""
    batch, dim = z.shape
    centred = z - z.mean(dim=0)
    cov = centred.T @ centred / (batch - 1)  # (D, D)
    return (cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()) / dim


def vicreg_loss(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    invariance: float = 25.0,
    variance: float = 25.0,
    covariance: float = 1.0,
) -> torch.Tensor:
    """VICReg loss of two (B, D) embeddings: weighted invariance, mean variance hinge, summed covariance."""
    return (
        invariance * F.mse_loss(z_a, z_b)
        + variance * (variance_term(z_a) + variance_term(z_b)) / 2
        + covariance * (covariance_term(z_a) + covariance_term(z_b))
    )


@METHODS.register
class VICReg(Method):
    name = "vicreg"
    description = "regularised siamese: invariance + variance hinge + covariance decorrelation"
    paper = "Bardes et al., ICLR 2022"
    family = "two_views"
    accepts = (ANY_KIND,)  # only pooled embeddings of two views: every kind a domain augments

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        projection_dim: Count = 2048,
        hidden_dim: Count = 2048,
        invariance: NonNegative = 25.0,
        variance: NonNegative = 25.0,
        covariance: NonNegative = 1.0,
    ):
        super().__init__(backbone, feature_dim)
        self.weights = (invariance, variance, covariance)
        self.projector = ProjectionHead(feature_dim, hidden_dim, projection_dim, num_layers=3)

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        view_a, view_b = view_tensors(views)  # (B, C, H, W) each
        batch = view_a.shape[0]
        z = self.projector(self.backbone(torch.cat([view_a, view_b]))).float()  # (2B, D)
        z_a, z_b = ctx.world.gather(z[:batch]), ctx.world.gather(z[batch:])  # (world * B, D) each
        return StepOutput(vicreg_loss(z_a, z_b, *self.weights))
