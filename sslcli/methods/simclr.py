"""SimCLR: Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive Learning of
Visual Representations", ICML 2020. Two augmented views, an MLP projection head, NT-Xent loss."""

from __future__ import annotations

import torch
import torch.nn as nn

from sslcli.kernels import nt_xent
from sslcli.methods.base import ANY_KIND, Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.methods.options import Count, Positive
from sslcli.models.heads import ProjectionHead
from sslcli.registry import METHODS


@METHODS.register
class SimCLR(Method):
    name = "simclr"
    description = "contrastive: two views, projection head, NT-Xent over the batch"
    paper = "Chen et al., ICML 2020"
    family = "two_views"
    accepts = (ANY_KIND,)  # only pooled embeddings of two views: every kind a domain augments

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        projection_dim: Count = 128,
        hidden_dim: Count = 512,
        temperature: Positive = 0.1,
    ):
        super().__init__(backbone, feature_dim)
        self.temperature = temperature
        self.projector = ProjectionHead(feature_dim, hidden_dim, projection_dim)

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        view_a, view_b = view_tensors(views)  # (B, C, H, W) each
        batch = view_a.shape[0]
        z = self.projector(self.backbone(torch.cat([view_a, view_b])))  # (2B, P): one BN pass over both
        return StepOutput(nt_xent(z[:batch], z[batch:], self.temperature))
