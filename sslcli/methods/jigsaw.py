"""Jigsaw: Noroozi, Favaro, "Unsupervised Learning of Visual Representations by Solving Jigsaw
Puzzles", ECCV 2016.

The image is cut into 3x3 tiles (each jittered inside its cell and normalised on its own), the tiles
are shuffled by one permutation from a fixed set chosen for large Hamming distances, every tile goes
through the shared backbone, and an MLP on the concatenated features predicts which permutation.
The set is built greedily, as in the paper's algorithm 1: each new permutation is the one farthest
from those already chosen (here: largest minimum distance, ties by largest total distance).
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Annotated

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from pydantic import Field

from sslcli.methods.base import Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.methods.options import Count
from sslcli.methods.tiles import GRID, cut_tiles, jitter_crop, jittered_size, normalise_tiles
from sslcli.registry import METHODS

TILES = GRID * GRID


@lru_cache(maxsize=4)
def maximal_hamming_permutations(count: int, seed: int = 0) -> torch.Tensor:
    """``count`` distinct permutations of the 9 tiles (count, 9), greedily spread in Hamming distance."""
    every = np.array(list(itertools.permutations(range(TILES))), dtype=np.int8)  # (9!, 9)
    first = int(np.random.default_rng(seed).integers(len(every)))
    chosen = [first]
    distance = (every != every[first]).sum(axis=1, dtype=np.int32)  # (9!,) to the chosen set
    min_distance, total_distance = distance.copy(), distance.astype(np.int64)
    for _ in range(count - 1):
        best = int(np.argmax(min_distance * (TILES * count + 1) + total_distance))  # min first, then total
        chosen.append(best)
        distance = (every != every[best]).sum(axis=1, dtype=np.int32)
        min_distance = np.minimum(min_distance, distance)
        total_distance += distance
    return torch.from_numpy(every[chosen].astype(np.int64))


def shuffle_tiles(tiles: torch.Tensor, permutations: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Position i of sample b receives tile ``permutations[labels[b], i]``: (B, 9, ...) -> (B, 9, ...)."""
    order = permutations.to(tiles.device)[labels]  # (B, 9)
    index = order.view(*order.shape, *([1] * (tiles.ndim - 2))).expand_as(tiles)
    return tiles.gather(1, index)


@METHODS.register
class Jigsaw(Method):
    name = "jigsaw"
    description = "pretext: recognise which permutation shuffled the 3x3 tiles of an image"
    paper = "Noroozi & Favaro, ECCV 2016"
    family = "one_view"
    accepts = ("image2d",)

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        num_permutations: Annotated[int, Field(ge=2, le=1000)] = 100,
        tile_keep: Annotated[float, Field(gt=0, le=1)] = 0.85,
        hidden_dim: Count = 1024,
    ):
        super().__init__(backbone, feature_dim)
        self.tile_keep = tile_keep
        self.register_buffer(
            "permutations", maximal_hamming_permutations(num_permutations), persistent=False
        )  # (P, 9)
        self.classifier = nn.Sequential(
            nn.Linear(TILES * feature_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, num_permutations),
        )

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        (images,) = view_tensors(views)  # (B, C, H, W)
        tiles = cut_tiles(images)  # (B, 9, C, s, s)
        tiles = normalise_tiles(jitter_crop(tiles, jittered_size(tiles.shape[-1], self.tile_keep)))
        labels = torch.randint(len(self.permutations), (len(images),), device=images.device)  # (B,)
        shuffled = shuffle_tiles(tiles, self.permutations, labels)  # (B, 9, C, t, t)
        features = self.backbone(shuffled.flatten(0, 1)).view(len(images), -1)  # (B, 9F)
        return StepOutput(F.cross_entropy(self.classifier(features), labels))
