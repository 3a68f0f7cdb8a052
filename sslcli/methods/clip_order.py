"""Clip order prediction: Xu et al., "Self-supervised Spatiotemporal Learning via Video Clip Order
Prediction" (VCOP), CVPR 2019.

A clip view of T frames is cut into ``clips`` consecutive sub-clips of T // clips frames, which are
put in one of the clips! orders. The encoder embeds each sub-clip; every pair of embeddings is
concatenated and mapped by one shared layer, and a linear classifier over all pairs predicts which
order was applied (VCOP's best setting: 3 clips, 6 orders). With one frame per sub-clip this is
frame-order prediction (Shuffle & Learn, Misra et al., ECCV 2016; OPN, Lee et al., ICCV 2017).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn as nn
import torch.nn.functional as F

from sslcli.domains import InputSpec
from sslcli.methods.base import Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.methods.options import Count, Fraction
from sslcli.registry import METHODS

PAIR_DIM = 512  # VCOP's pairwise layer


def orders(clips: int) -> torch.Tensor:
    """Every order of ``clips`` sub-clips, (clips!, clips), lexicographic."""
    return torch.tensor(list(itertools.permutations(range(clips))))


def shuffle_sub_clips(views: torch.Tensor, clips: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, C, H, W) -> sub-clips in a random order (B, clips, T // clips, C, H, W) and the order's
    label (B,): position i of item b holds sub-clip ``orders(clips)[label[b], i]``."""
    batch, frames = views.shape[:2]
    length = frames // clips
    sub_clips = views[:, : clips * length].unflatten(1, (clips, length))  # (B, n, t, C, H, W)
    table = orders(clips).to(views.device)  # (n!, n)
    labels = torch.randint(0, len(table), (batch,), device=views.device)  # (B,)
    order = table[labels]  # (B, n)
    return sub_clips[torch.arange(batch, device=views.device)[:, None], order], labels


@METHODS.register
class ClipOrder(Method):
    name = "clip_order"
    description = "pretext: predict the order of shuffled sub-clips of a clip (VCOP; frame order)"
    paper = "Xu et al., CVPR 2019"
    family = "one_view"
    accepts = ("clip",)

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        spec: InputSpec,
        clips: Count = 3,
        dropout: Fraction = 0.5,
    ):
        super().__init__(backbone, feature_dim)
        if spec.size[0] < clips:
            raise ValueError(f"clip_order needs at least clips={clips} frames per clip, got {spec.size[0]}")
        self.clips = clips
        pairs = clips * (clips - 1) // 2
        self.pair_layer = nn.Sequential(nn.Linear(2 * feature_dim, PAIR_DIM), nn.ReLU(inplace=True))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(pairs * PAIR_DIM, len(orders(clips))))

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        shuffled, labels = shuffle_sub_clips(view_tensors(views)[0], self.clips)  # (B, n, t, C, H, W)
        batch = len(shuffled)
        features = self.backbone(shuffled.flatten(0, 1)).view(batch, self.clips, -1)  # (B, n, D)
        pairs = [
            torch.cat([features[:, i], features[:, j]], dim=1)  # (B, 2D)
            for i, j in itertools.combinations(range(self.clips), 2)
        ]
        pair_features = self.pair_layer(torch.stack(pairs, dim=1))  # (B, pairs, PAIR_DIM)
        logits = self.classifier(pair_features.flatten(1))  # (B, clips!)
        return StepOutput(F.cross_entropy(logits, labels))
