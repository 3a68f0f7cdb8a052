"""Backbones: torchvision ResNets returning pooled features, with a small-image stem.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016. For inputs <= 64 px the
7x7/2 stem and max-pool are replaced by a 3x3/1 convolution, as SimCLR does for CIFAR-10.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn
from torchvision import models

SMALL_INPUT_MAX = 64

_RESNETS: dict[str, Callable[..., models.ResNet]] = {
    "resnet18": models.resnet18,
    "resnet34": models.resnet34,
    "resnet50": models.resnet50,
}


def available_backbones() -> list[str]:
    return sorted(_RESNETS)


def build_backbone(name: str, input_size: int, in_channels: int = 3) -> tuple[nn.Module, int]:
    """Randomly initialised backbone mapping (B, C, H, W) -> (B, F), and its feature size F."""
    if name not in _RESNETS:
        raise KeyError(f"unknown backbone {name!r}; available: {', '.join(available_backbones())}")
    net = _RESNETS[name](weights=None)
    small = input_size <= SMALL_INPUT_MAX
    if small or in_channels != 3:
        kernel, stride, padding = (3, 1, 1) if small else (7, 2, 3)
        net.conv1 = nn.Conv2d(in_channels, 64, kernel, stride, padding, bias=False)
    if small:
        net.maxpool = nn.Identity()
    feature_dim = net.fc.in_features
    net.fc = nn.Identity()
    return net, feature_dim
