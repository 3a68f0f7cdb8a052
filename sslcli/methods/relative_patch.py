"""Relative patch location (context prediction): Doersch, Gupta, Efros, "Unsupervised Visual
Representation Learning by Context Prediction", ICCV 2015.

From a 3x3 grid of jittered, gapped cells, the centre tile and one of its 8 neighbours go through the
shared backbone; an MLP on the two concatenated features predicts where the neighbour lies (8-way).
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn as nn
import torch.nn.functional as F
from pydantic import Field

from sslcli.methods.base import Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.methods.options import Count
from sslcli.methods.tiles import GRID, cut_tiles, jitter_crop, jittered_size, normalise_tiles
from sslcli.registry import METHODS

CENTRE = GRID * GRID // 2
NEIGHBOURS = torch.tensor([i for i in range(GRID * GRID) if i != CENTRE])  # label -> cell index (8,)


def centre_and_neighbour(tiles: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 9, C, s, s) tiles and labels (B,) in 0..7 -> centre tiles and labelled neighbours (B, C, s, s)."""
    cells = NEIGHBOURS.to(tiles.device)[labels]  # (B,)
    rows = torch.arange(len(tiles), device=tiles.device)
    return tiles[:, CENTRE], tiles[rows, cells]


@METHODS.register
class RelativePatchLocation(Method):
    name = "relative_patch"
    description = "pretext: predict where a neighbouring tile lies relative to the centre tile (8-way)"
    paper = "Doersch et al., ICCV 2015"
    family = "one_view"
    accepts = ("image2d",)

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        tile_keep: Annotated[float, Field(gt=0, le=1)] = 0.85,
        hidden_dim: Count = 1024,
    ):
        super().__init__(backbone, feature_dim)
        self.tile_keep = tile_keep
        self.classifier = nn.Sequential(
            nn.Linear(2 * feature_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, len(NEIGHBOURS)),
        )

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        (images,) = view_tensors(views)  # (B, C, H, W)
        tiles = cut_tiles(images)  # (B, 9, C, s, s)
        tiles = normalise_tiles(jitter_crop(tiles, jittered_size(tiles.shape[-1], self.tile_keep)))
        labels = torch.randint(len(NEIGHBOURS), (len(images),), device=images.device)  # (B,)
        centre, neighbour = centre_and_neighbour(tiles, labels)  # (B, C, t, t) each
        features = self.backbone(torch.cat([centre, neighbour]))  # (2B, F)
        pair = torch.cat(features.chunk(2), dim=1)  # (B, 2F)
        return StepOutput(F.cross_entropy(self.classifier(pair), labels))
