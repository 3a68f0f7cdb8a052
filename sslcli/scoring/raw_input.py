"""The raw-input baseline: what the encoder is fed, flattened, as features. A pretrained encoder is worth
having where it beats both its random init and this (small images often sit close to it)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

RAW_MAX_DIMS = 4096  # kNN and the linear probe stay cheap on any input size


class RawInput(torch.nn.Module):
    """(B, ...) -> (B, D) with D <= ``RAW_MAX_DIMS``: the input flattened; larger images and
    spectrograms (B, C, H, W) are area-averaged to the largest grid that fits, keeping their aspect
    ratio, and clips (B, T, C, H, W) to that many averages of consecutive values."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs[0].numel() <= RAW_MAX_DIMS:
            return inputs.flatten(1).float()
        if inputs.ndim == 4:
            channels, height, width = inputs.shape[1:]
            shrink = math.sqrt(RAW_MAX_DIMS / (channels * height * width))  # < 1
            grid = (max(1, int(height * shrink)), max(1, int(width * shrink)))
            return F.adaptive_avg_pool2d(inputs.float(), grid).flatten(1)  # (B, C * h * w)
        flat = inputs.flatten(1).float().unsqueeze(1)  # (B, 1, N)
        return F.adaptive_avg_pool1d(flat, RAW_MAX_DIMS).squeeze(1)  # (B, RAW_MAX_DIMS)
