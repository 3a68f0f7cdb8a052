"""Pixel decoders for generative pretext tasks (inpainting, colorization, denoising, super-resolution).

The backbone's contract is pooled features (B, F), so the decoder starts from that bottleneck, like
the context encoder's channel-wise fully connected layer (Pathak et al., CVPR 2016): a linear map to
a 4x4 grid, then (2x nearest upsampling, 3x3 conv, BN, ReLU) stages halving the width down to 16
channels, a 1x1 conv to the output channels and a bilinear resize to the exact output size.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

BASE_GRID = 4


class PixelDecoder(nn.Module):
    """(B, F) -> (B, out_channels, H, W) for ``out_size`` (H, W)."""

    def __init__(self, feature_dim: int, out_channels: int, out_size: tuple[int, int], width: int = 128):
        super().__init__()
        self.width, self.out_size = width, tuple(out_size)
        self.fc = nn.Linear(feature_dim, width * BASE_GRID * BASE_GRID)
        layers: list[nn.Module] = []
        channels = width
        for _ in range(max(0, math.ceil(math.log2(max(out_size) / BASE_GRID)))):
            narrower = max(16, channels // 2)
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(channels, narrower, 3, padding=1, bias=False),
                nn.BatchNorm2d(narrower),
                nn.ReLU(inplace=True),
            ]
            channels = narrower
        layers.append(nn.Conv2d(channels, out_channels, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        grid = self.fc(features).view(-1, self.width, BASE_GRID, BASE_GRID)  # (B, W, 4, 4)
        pixels = self.body(grid)  # (B, C, 4 * 2^n, 4 * 2^n)
        if tuple(pixels.shape[-2:]) != self.out_size:
            pixels = F.interpolate(pixels, size=self.out_size, mode="bilinear")
        return pixels  # (B, C, H, W)
