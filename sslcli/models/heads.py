"""Projection heads (SimCLR, Chen et al. 2020: an MLP with one hidden layer on the pooled features)."""

from __future__ import annotations

import torch.nn as nn


class ProjectionHead(nn.Sequential):
    """Linear -> BatchNorm -> ReLU, repeated ``num_layers - 1`` times, then Linear: (B, F) -> (B, out)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 2):
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        layers: list[nn.Module] = []
        dim = in_dim
        for _ in range(num_layers - 1):
            layers += [
                nn.Linear(dim, hidden_dim, bias=False),
                nn.BatchNorm1d(hidden_dim),
                nn.ReLU(inplace=True),
            ]
            dim = hidden_dim
        layers.append(nn.Linear(dim, out_dim))
        super().__init__(*layers)
