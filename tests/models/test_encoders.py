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


def test_the_resnet_encoder_is_torchvisions_resnet():
    torch.manual_seed(0)
    reference = models.resnet18(weights=None)
    torch.manual_seed(0)
    encoder = ResNetEncoder(BasicBlock, [2, 2, 2, 2])
    assert reference.state_dict().keys() == encoder.state_dict().keys()
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, encoder.state_dict()[name]), name
