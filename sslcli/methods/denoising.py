"""Denoising autoencoder: Vincent, Larochelle, Bengio, Manzagol, "Extracting and Composing Robust
Features with Denoising Autoencoders", ICML 2008.

The view is corrupted with additive Gaussian noise (std in the domain's normalised units, default
0.5), the backbone encodes it and a pixel decoder reconstructs the clean view; L2 loss.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from sslcli.domains import InputSpec
from sslcli.methods.base import Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.methods.options import Positive
from sslcli.models.decoders import PixelDecoder
from sslcli.registry import METHODS


def corrupt(images: torch.Tensor, noise_std: float) -> torch.Tensor:
    """images + N(0, noise_std^2) per pixel; (B, C, H, W) -> (B, C, H, W)."""
    return images + noise_std * torch.randn_like(images)


@METHODS.register
class DenoisingAutoencoder(Method):
    name = "denoising"
    description = "pretext: reconstruct the clean image from a noise-corrupted copy"
    paper = "Vincent et al., ICML 2008"
    family = "one_view"
    accepts = ("image2d",)

    def __init__(self, backbone: nn.Module, feature_dim: int, spec: InputSpec, noise_std: Positive = 0.5):
        super().__init__(backbone, feature_dim)
        self.noise_std = noise_std
        self.decoder = PixelDecoder(feature_dim, spec.channels, spec.size)

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        (clean,) = view_tensors(views)  # (B, C, H, W)
        restored = self.decoder(self.backbone(corrupt(clean, self.noise_std)))  # (B, C, H, W)
        return StepOutput(F.mse_loss(restored.float(), clean.float()))
