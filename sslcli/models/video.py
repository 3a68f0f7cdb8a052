"""Clip encoders: (B, T, C, H, W) -> (B, D), with ``time_steps`` (B, T', D) along the clip.

``FramePooledEncoder``: any 2-D encoder on every frame, features averaged over the frames (the cheap
option; Wang et al., "Temporal Segment Networks", ECCV 2016, average frame predictions the same way).
``VideoResNet``: torchvision's 3-D ResNets, randomly initialised: ``r3d_18`` (3-D convolutions) and
``r2plus1d_18`` (each split into a 2-D spatial and a 1-D temporal one; Tran et al., "A Closer Look at
Spatiotemporal Convolutions for Action Recognition", CVPR 2018).
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torchvision.models import video as tv_video

from sslcli.models.protocol import refuse_mask

VIDEO_RESNETS = {"r3d_18": tv_video.r3d_18, "r2plus1d_18": tv_video.r2plus1d_18}


class FramePooledEncoder(nn.Module):
    """A 2-D ``frame_encoder`` ((N, C, H, W) -> (N, D)) applied to each frame of a clip."""

    def __init__(self, frame_encoder: nn.Module, feature_dim: int):
        super().__init__()
        self.frame_encoder, self.feature_dim = frame_encoder, feature_dim

    def time_steps(self, clips: torch.Tensor) -> torch.Tensor:
        batch, frames = clips.shape[:2]
        features = self.frame_encoder(clips.flatten(0, 1))  # (B * T, D)
        return features.view(batch, frames, -1)  # (B, T, D)

    def tokens(self, clips: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        refuse_mask(mask, "a frame-by-frame encoder")
        return self.time_steps(clips)  # (B, T, D): one token per frame

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.time_steps(clips).mean(dim=1)  # (B, D)


class VideoResNet(nn.Module):
    """torchvision's ``r3d_18`` / ``r2plus1d_18`` (random init, no classifier) on (B, T, C, H, W)."""

    def __init__(self, name: str, in_channels: int = 3):
        super().__init__()
        net = VIDEO_RESNETS[name](weights=None)
        if in_channels != 3:
            stem = net.stem[0]
            net.stem[0] = nn.Conv3d(
                in_channels, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False
            )
        self.feature_dim = net.fc.in_features
        self.stem, self.layers = net.stem, nn.Sequential(net.layer1, net.layer2, net.layer3, net.layer4)

    def feature_map(self, clips: torch.Tensor) -> torch.Tensor:
        return self.layers(self.stem(clips.transpose(1, 2)))  # (B, C, T, H, W) in -> (B, D, t, h, w)

    def tokens(self, clips: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        refuse_mask(mask, "a 3-D ResNet")
        return self.feature_map(clips).flatten(2).transpose(1, 2)  # (B, t * h * w, D)

    def time_steps(self, clips: torch.Tensor) -> torch.Tensor:
        return self.feature_map(clips).mean(dim=(3, 4)).transpose(1, 2)  # (B, t, D)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.feature_map(clips).mean(dim=(2, 3, 4))  # (B, D)
