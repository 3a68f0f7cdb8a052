"""Clip order prediction (VCOP) against references: the shuffle is undone by the inverse of the
labelled order, and the loss equals a per-item loop that embeds each sub-clip on its own."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from sslcli.domains import InputSpec

from sslcli.methods import StepContext
from sslcli.methods.clip_order import ClipOrder, orders, shuffle_sub_clips
from sslcli.models import build_backbone

B, T, SIDE = 5, 7, 8


def counting_clips() -> torch.Tensor:
    """(B, T, 1, 2, 2): frame t of item b holds the value 100 b + t everywhere."""
    values = 100 * torch.arange(B)[:, None] + torch.arange(T)[None, :]  # (B, T)
    return values[:, :, None, None, None].expand(B, T, 1, 2, 2).float()


@pytest.mark.parametrize("clips", [2, 3, 4])
def test_the_inverse_of_the_labelled_order_restores_the_sub_clips(clips):
    torch.manual_seed(clips)
    views = counting_clips()
    shuffled, labels = shuffle_sub_clips(views, clips)  # (B, n, t, 1, 2, 2)
    length = T // clips
    assert shuffled.shape == (B, clips, length, 1, 2, 2) and len(orders(clips)) == math.factorial(clips)
    for b in range(B):
        order = orders(clips)[labels[b]]
        restored = shuffled[b][order.argsort()]  # (n, t, 1, 2, 2)
        torch.testing.assert_close(restored.flatten(0, 1), views[b, : clips * length])
        firsts = shuffled[b, :, 0, 0, 0, 0] - 100 * b  # the first frame of each shown sub-clip
        assert firsts.tolist() == [length * int(i) for i in order]


def test_the_loss_is_a_per_item_loop_over_sub_clip_pairs():
    torch.manual_seed(0)
    backbone, dim = build_backbone("resnet10", (T, SIDE, SIDE), 3)
    method = ClipOrder(backbone, dim, InputSpec("clip", 3, (T, SIDE, SIDE)), clips=3).eval()
    views = torch.randn(B, T, 3, SIDE, SIDE)
    torch.manual_seed(1)
    loss = method([{"video": views}], StepContext()).loss
    torch.manual_seed(1)
    labels = torch.randint(0, 6, (B,))  # the draw the method made
    losses = []
    for b in range(B):
        order = orders(3)[labels[b]]
        features = [backbone(views[b : b + 1, 2 * int(i) : 2 * int(i) + 2]) for i in order]  # 3 x (1, D)
        pairs = [
            method.pair_layer(torch.cat([features[i], features[j]], 1))
            for i, j in itertools.combinations(range(3), 2)
        ]
        logits = method.classifier(torch.cat(pairs, dim=1))  # (1, 6)
        losses.append(F.cross_entropy(logits, labels[b : b + 1]))
    torch.testing.assert_close(loss, torch.stack(losses).mean(), rtol=1e-5, atol=1e-6)


def test_a_clip_shorter_than_its_sub_clip_count_is_refused():
    backbone, dim = build_backbone("resnet10", (2, SIDE, SIDE), 3)
    with pytest.raises(ValueError, match="at least clips=3 frames"):
        ClipOrder(backbone, dim, InputSpec("clip", 3, (2, SIDE, SIDE)), clips=3)
