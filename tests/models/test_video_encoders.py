"""Clip encoders against plain references: a frame-pooled 2-D encoder is the mean of the encoder run
frame by frame; the 3-D ResNets match torchvision's own forward on (B, C, T, H, W)."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import video as tv_video

from sslcli.models import build_backbone


def test_a_frame_pooled_encoder_averages_the_2d_encoder_over_frames():
    torch.manual_seed(0)
    encoder, dim = build_backbone("resnet10", (5, 16, 16), 3)
    encoder.eval()
    clips = torch.randn(2, 5, 3, 16, 16)  # (B, T, C, H, W)
    frame_features = torch.stack([encoder.frame_encoder(clips[:, t]) for t in range(5)], dim=1)  # (B, T, D)
    torch.testing.assert_close(encoder(clips), frame_features.mean(dim=1))
    torch.testing.assert_close(encoder.time_steps(clips), frame_features)
    assert dim == 512 and encoder(clips).shape == (2, 512)
    torch.testing.assert_close(encoder(clips.flip(1)), encoder(clips))  # order-free by construction


@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18"])
def test_video_resnets_match_torchvision_on_channels_first_clips(name):
    torch.manual_seed(0)
    encoder, dim = build_backbone(name, (4, 32, 32), 3)
    encoder.eval()
    reference = getattr(tv_video, name)(weights=None)
    reference.fc = torch.nn.Identity()
    reference.stem.load_state_dict(encoder.stem.state_dict())
    for i, layer in enumerate(encoder.layers):
        getattr(reference, f"layer{i + 1}").load_state_dict(layer.state_dict())
    reference.eval()
    clips = torch.randn(2, 4, 3, 32, 32)  # (B, T, C, H, W)
    expected = reference(clips.transpose(1, 2))  # torchvision takes (B, C, T, H, W)
    torch.testing.assert_close(encoder(clips), expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(encoder.tokens(clips).mean(dim=1), expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(encoder.time_steps(clips).mean(dim=1), expected, rtol=1e-4, atol=1e-5)
    assert dim == 512


def test_clip_encoders_take_any_channel_count_and_3d_resnets_refuse_single_images():
    encoder, _ = build_backbone("r3d_18", (4, 16, 16), 1)
    assert encoder(torch.randn(2, 4, 1, 16, 16)).shape == (2, 512)
    with pytest.raises(ValueError, match="r3d_18 encodes clip inputs, not image2d"):
        build_backbone("r3d_18", (16, 16), 3)
