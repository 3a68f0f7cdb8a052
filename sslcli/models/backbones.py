"""ResNet backbones: torchvision's ResNets returning pooled features, with a small-image stem.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016. For inputs <= 64 px the
7x7/2 stem and max-pool are replaced by a 3x3/1 convolution, as SimCLR does for CIFAR-10.
``resnet10`` (one basic block per stage) is a cheap CPU variant. A ``_w<width>`` suffix sets the first
stage's channels (64 in the paper; the later stages double it), e.g. ``resnet10_w32``: a quarter of the
convolutions' cost, for CPU budgets of minutes. ``sslcli.models.encoders`` registers them by input kind
beside the other architectures.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

import torch
import torch.nn as nn
from torchvision import models
from torchvision.models.resnet import BasicBlock, Bottleneck

from sslcli.models.protocol import refuse_mask

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

    def tokens(self, images: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, H, W) -> (B, h * w, D): one feature per cell of the final feature map, row-major."""
        refuse_mask(mask, "a ResNet")
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


def parse_resnet_name(name: str) -> tuple[str, int] | None:
    """``resnet18`` or ``resnet18_w32`` -> (depth name, first-stage width); None for other names."""
    match = _RESNET_NAME.match(name)
    if match is None or match.group(1) not in _RESNETS:
        return None
    return match.group(1), int(match.group(2) or RESNET_WIDTH)


def build_resnet(name: str, size: tuple[int, int], in_channels: int) -> tuple[nn.Module, int]:
    """The 2-D ResNet ``name`` for inputs of ``size`` (H, W) with ``in_channels``: (B, C, H, W) -> (B, F),
    with the small-image stem at sides up to ``SMALL_INPUT_MAX``."""
    depth, width = parse_resnet_name(name)
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
