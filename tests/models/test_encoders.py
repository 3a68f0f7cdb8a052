"""Encoders: ``forward`` gives pooled features (B, F), ``tokens`` the sequence (B, L, F) they pool."""

from __future__ import annotations

import pytest
import torch
from torchvision import models
from torchvision.models.resnet import BasicBlock

from sslcli.models import build_backbone
from sslcli.models.backbones import ResNetEncoder


@pytest.mark.parametrize(
    ("name", "size", "channels", "length"),
    [
        ("resnet10", (32, 32), 3, 16),  # small-input stem: stride 8 overall -> 4 x 4 cells
        ("resnet18", (96, 96), 3, 9),  # ImageNet stem: stride 32 -> 3 x 3 cells
        ("resnet10", (40, 96), 1, 2 * 3),  # one channel, not square, ImageNet stem: 2 x 3 cells
        ("vit_tiny_p8", (16, 32), 3, 2 * 4),  # patches of 8 x 8
        ("spec_cnn", (64, 96), 1, 12),  # one token per 8 frames
    ],
)
def test_tokens_are_what_forward_pools(name, size, channels, length):
    torch.manual_seed(0)
    encoder, feature_dim = build_backbone(name, size, channels)
    encoder.eval()  # batch norm from running statistics, the same in both passes
    images = torch.randn(2, channels, *size)
    tokens = encoder.tokens(images)
    assert tokens.shape == (2, length, feature_dim)
    torch.testing.assert_close(tokens.mean(dim=1), encoder(images), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "size", "steps"),
    [("resnet10", (40, 96), 3), ("vit_tiny_p8", (16, 32), 4), ("spec_cnn", (64, 96), 12)],
)
def test_time_steps_run_along_the_width_and_pool_to_forward(name, size, steps):
    """A time step sees only its own columns: changing the input's last columns changes only the last
    time steps (the ViT's attention mixes everything, so it is checked for the pooling alone)."""
    torch.manual_seed(0)
    encoder, feature_dim = build_backbone(name, size, 1)
    encoder.eval()
    spectrograms = torch.randn(2, 1, *size)
    steps_out = encoder.time_steps(spectrograms)
    assert steps_out.shape == (2, steps, feature_dim)
    torch.testing.assert_close(steps_out.mean(dim=1), encoder(spectrograms), rtol=1e-5, atol=1e-5)
    if name != "spec_cnn":
        return
    changed = spectrograms.clone()
    changed[..., -8:] = torch.randn(2, 1, size[0], 8)  # the last 8 frames: the last time step's pool
    moved = (encoder.time_steps(changed) - steps_out).abs().amax(dim=(0, 2))  # (T,)
    assert moved[-1] > 0 and torch.all(moved[:-3] == 0)  # 3x3 convs reach two steps back at most


def test_the_resnet_encoder_is_torchvisions_resnet():
    torch.manual_seed(0)
    reference = models.resnet18(weights=None)
    torch.manual_seed(0)
    encoder = ResNetEncoder(BasicBlock, [2, 2, 2, 2])
    assert reference.state_dict().keys() == encoder.state_dict().keys()
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, encoder.state_dict()[name]), name


@pytest.mark.parametrize(("name", "width"), [("resnet10_w32", 32), ("resnet18_w16", 16), ("resnet50_w8", 8)])
def test_a_width_suffix_sets_the_stages_channels(name, width):
    """Stages of width, 2, 4 and 8 x width channels (x 4 for bottlenecks), the stem at width."""
    encoder, feature_dim = build_backbone(name, 32, 1)
    expansion = 4 if name.startswith("resnet50") else 1
    stages = [encoder.layer1, encoder.layer2, encoder.layer3, encoder.layer4]
    assert [stage[-1].bn2.num_features for stage in stages] == [width, 2 * width, 4 * width, 8 * width]
    assert encoder.conv1.out_channels == width and encoder.conv1.in_channels == 1
    assert feature_dim == 8 * width * expansion
    assert encoder(torch.randn(2, 1, 32, 32)).shape == (2, feature_dim)


def test_the_paper_width_named_is_the_plain_resnet():
    torch.manual_seed(0)
    plain, _ = build_backbone("resnet18", 96)
    torch.manual_seed(0)
    named, _ = build_backbone("resnet18_w64", 96)
    for name, tensor in plain.state_dict().items():
        assert torch.equal(tensor, named.state_dict()[name]), name


@pytest.mark.parametrize("name", ["resnet18_w0", "resnet7_w32", "resnet18_w", "resnet18w32"])
def test_malformed_resnet_names_are_unknown_backbones(name):
    with pytest.raises(KeyError, match="unknown backbone"):
        build_backbone(name, 32)
