"""Backbones: torchvision ResNets returning pooled features, with a small-image stem, and ViTs.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016. For inputs <= 64 px the
7x7/2 stem and max-pool are replaced by a 3x3/1 convolution, as SimCLR does for CIFAR-10.
``resnet10`` (one basic block per stage) is a cheap CPU variant. A ``_w<width>`` suffix sets the first
stage's channels (64 in the paper; the later stages double it), e.g. ``resnet10_w32``: a quarter of the
convolutions' cost, for CPU budgets of minutes. ``spec_cnn`` is the spectrogram
encoder of ``sslcli.models.audio`` (time steps as tokens). Clips (an input size (T, H, W)) get
``sslcli.models.video``'s encoders: ``r3d_18``, ``r2plus1d_18``, or any 2-D backbone run on every frame
and averaged over them. ViTs (``vit_tiny``, ``vit_small``, ``vit_base``, optionally ``_p<patch>``) are
built by ``sslcli.models.vit``, for clips as a ViT over 2-frame tubelets (VideoMAE's).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

import torch
import torch.nn as nn
from torchvision import models
from torchvision.models.resnet import BasicBlock, Bottleneck

from sslcli.models.audio import SpectrogramCNN
from sslcli.models.video import VIDEO_RESNETS, FramePooledEncoder, VideoResNet
from sslcli.models.vit import VIT_SIZES, build_vit, parse_vit_name

SMALL_INPUT_MAX = 64


RESNET_WIDTH = 64  # the paper's first-stage channels
_RESNET_NAME = re.compile(r"^(resnet\d+)(?:_w(\d+))?$")


class ResNetEncoder(models.ResNet):
    """torchvision's ResNet (same parameters and names), with ``tokens``: the last stage's feature
    map as a sequence, whose mean is the pooled ``forward`` output, and ``time_steps``.

    ``width``: the first stage's channels (the stages have width, 2, 4 and 8 x width); at the paper's 64
    the network is torchvision's, initialised by the same draws."""

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: list[int], width: int = RESNET_WIDTH):
        super().__init__(block, layers)
        if width != RESNET_WIDTH:
            self._rebuild_stages(block, layers, width)

    def _rebuild_stages(self, block: type[BasicBlock | Bottleneck], layers: list[int], width: int) -> None:
        """Stem, stages and classifier at ``width``, initialised as torchvision's ``ResNet.__init__`` does."""
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.fc = nn.Linear(8 * width * block.expansion, self.fc.out_features)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, D, h, w)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, h * w, D): one feature per cell of the final feature map, row-major."""
        return self.feature_map(images).flatten(2).transpose(1, 2)

    def time_steps(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, w, D): the feature map's columns (a spectrogram's frames), each the
        mean over its rows (frequencies)."""
        return self.feature_map(images).mean(dim=2).transpose(1, 2)


_RESNETS: dict[str, Callable[..., ResNetEncoder]] = {
    "resnet10": partial(ResNetEncoder, BasicBlock, [1, 1, 1, 1]),
    "resnet18": partial(ResNetEncoder, BasicBlock, [2, 2, 2, 2]),
    "resnet34": partial(ResNetEncoder, BasicBlock, [3, 4, 6, 3]),
    "resnet50": partial(ResNetEncoder, Bottleneck, [3, 4, 6, 3]),
}


SPECTROGRAM_CNN = "spec_cnn"


def available_backbones() -> list[str]:
    return sorted([*_RESNETS, *VIT_SIZES, SPECTROGRAM_CNN, *VIDEO_RESNETS])


def parse_resnet_name(name: str) -> tuple[str, int] | None:
    """``resnet18`` or ``resnet18_w32`` -> (depth name, first-stage width); None for other names."""
    match = _RESNET_NAME.match(name)
    if match is None or match.group(1) not in _RESNETS:
        return None
    return match.group(1), int(match.group(2) or RESNET_WIDTH)


def build_backbone(
    name: str, input_size: int | tuple[int, int], in_channels: int = 3
) -> tuple[nn.Module, int]:
    """Randomly initialised encoder mapping (B, C, H, W) -> (B, F), and its feature size F. Every
    encoder also has ``tokens``: (B, C, H, W) -> (B, L, F), whose mean over L is the forward output,
    and ``time_steps``: (B, C, H, W) -> (B, T, F) along W (a spectrogram's time axis), also
    averaging to the forward output.

    ``input_size``: the side of a square input, (H, W), or (T, H, W) for clips (B, T, C, H, W);
    ``in_channels``: C (any number)."""
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if len(size) == 3:
        return build_clip_backbone(name, size, in_channels)
    if name in VIDEO_RESNETS:
        raise ValueError(f"{name} encodes clips (T, C, H, W), not single images")
    if parse_vit_name(name) is not None:
        return build_vit(name, size, in_channels, SMALL_INPUT_MAX)
    if name == SPECTROGRAM_CNN:
        cnn = SpectrogramCNN(size, in_channels)
        return cnn, cnn.feature_dim
    resnet = parse_resnet_name(name)
    if resnet is None or resnet[1] < 1:
        raise KeyError(
            f"unknown backbone {name!r}; available: {', '.join(available_backbones())} "
            "(ViTs take an optional _p<patch> suffix, ResNets _w<first-stage width>)"
        )
    depth, width = resnet
    net = _RESNETS[depth](width=width)
    small = max(size) <= SMALL_INPUT_MAX
    if small or in_channels != 3:
        kernel, stride, padding = (3, 1, 1) if small else (7, 2, 3)
        net.conv1 = nn.Conv2d(in_channels, width, kernel, stride, padding, bias=False)
    if small:
        net.maxpool = nn.Identity()
    feature_dim = net.fc.in_features
    net.fc = nn.Identity()
    return net, feature_dim


def build_clip_backbone(name: str, size: tuple[int, int, int], in_channels: int) -> tuple[nn.Module, int]:
    """A clip encoder: a 3-D ResNet, a ViT over tubelets, or the 2-D backbone ``name`` on every frame,
    averaged."""
    if name in VIDEO_RESNETS:
        net = VideoResNet(name, in_channels)
        return net, net.feature_dim
    if parse_vit_name(name) is not None:
        return build_vit(name, size, in_channels, SMALL_INPUT_MAX)
    frame_encoder, feature_dim = build_backbone(name, size[1:], in_channels)
    return FramePooledEncoder(frame_encoder, feature_dim), feature_dim
