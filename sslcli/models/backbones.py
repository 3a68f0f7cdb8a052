"""Backbones: torchvision ResNets returning pooled features, with a small-image stem, and ViTs.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016. For inputs <= 64 px the
7x7/2 stem and max-pool are replaced by a 3x3/1 convolution, as SimCLR does for CIFAR-10.
``resnet10`` (one basic block per stage) is a cheap CPU variant. ViTs (``vit_tiny``, ``vit_small``,
``vit_base``, optionally ``_p<patch>``) are built by ``sslcli.models.vit``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch.nn as nn
from torchvision import models
from torchvision.models.resnet import BasicBlock

from sslcli.models.vit import VIT_SIZES, build_vit, parse_vit_name

SMALL_INPUT_MAX = 64

_RESNETS: dict[str, Callable[[], models.ResNet]] = {
    "resnet10": partial(models.ResNet, BasicBlock, [1, 1, 1, 1]),
    "resnet18": partial(models.resnet18, weights=None),
    "resnet34": partial(models.resnet34, weights=None),
    "resnet50": partial(models.resnet50, weights=None),
}


def available_backbones() -> list[str]:
    return sorted([*_RESNETS, *VIT_SIZES])


def build_backbone(
    name: str, input_size: int | tuple[int, int], in_channels: int = 3
) -> tuple[nn.Module, int]:
    """Randomly initialised backbone mapping (B, C, H, W) -> (B, F), and its feature size F.

    ``input_size``: the side of a square input or (H, W); ``in_channels``: C (any number)."""
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if parse_vit_name(name) is not None:
        return build_vit(name, size, in_channels, SMALL_INPUT_MAX)
    if name not in _RESNETS:
        raise KeyError(
            f"unknown backbone {name!r}; available: {', '.join(available_backbones())} "
            "(ViTs take an optional _p<patch> suffix)"
        )
    net = _RESNETS[name]()
    small = max(size) <= SMALL_INPUT_MAX
    if small or in_channels != 3:
        kernel, stride, padding = (3, 1, 1) if small else (7, 2, 3)
        net.conv1 = nn.Conv2d(in_channels, 64, kernel, stride, padding, bias=False)
    if small:
        net.maxpool = nn.Identity()
    feature_dim = net.fc.in_features
    net.fc = nn.Identity()
    return net, feature_dim
