"""Encoders by input kind: every architecture is an ``EncoderFamily`` in ``sslcli.registry.ENCODERS``,
naming the backbones it builds and the input kinds it serves, and ``build_encoder`` makes one from an
``InputSpec``. A plug-in (or a test) adds a family for a new kind without editing this file.

sslcli's own families: ResNets (``resnet10``-``resnet50``, ``_w<width>``; He et al., CVPR 2016), ViTs
(``vit_tiny``/``small``/``base``, ``_p<patch>``; Dosovitskiy et al., ICLR 2021; clips as 2-frame
tubelets, VideoMAE's), the spectrogram CNN ``spec_cnn`` (BYOL-A's) and torchvision's 3-D ResNets
``r3d_18``/``r2plus1d_18`` for clips. A clip given to a 2-D family is encoded frame by frame and
averaged (``FramePooledEncoder``).

Every encoder keeps ``sslcli.models.protocol.Encoder``: a batch of samples (B, *spec.shape) to pooled
features (B, F), ``tokens(x, mask=None)`` (B, L, F) whose mean over L is the pooled output; sslcli's
own also have ``time_steps`` (B, T, F) along their time axis.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch.nn as nn

from sslcli.domains import InputSpec
from sslcli.models.audio import SpectrogramCNN
from sslcli.models.backbones import SMALL_INPUT_MAX, build_resnet
from sslcli.models.video import VIDEO_RESNETS, FramePooledEncoder, VideoResNet
from sslcli.models.vit import build_vit
from sslcli.registry import ENCODERS

Built = tuple[nn.Module, int]  # the encoder and its feature size F


@dataclass(frozen=True)
class EncoderFamily:
    """One architecture: the backbone names it builds (``pattern``, matched whole), the input kinds it
    serves, and ``build(name, spec) -> (encoder, F)``. ``examples`` are names listed in errors."""

    name: str
    kinds: tuple[str, ...]
    pattern: str
    build: Callable[[str, InputSpec], Built]
    examples: tuple[str, ...]

    def builds(self, backbone: str) -> bool:
        return re.fullmatch(self.pattern, backbone) is not None


def frame_pooled(build_2d: Callable[[str, tuple[int, int], int], Built]) -> Callable[[str, InputSpec], Built]:
    """A family's builder for its 2-D inputs and, for clips, the same network on every frame, averaged."""

    def build(name: str, spec: InputSpec) -> Built:
        if spec.kind != "clip":
            return build_2d(name, spec.size, spec.channels)
        frame_encoder, dim = build_2d(name, spec.size[1:], spec.channels)
        return FramePooledEncoder(frame_encoder, dim), dim

    return build


def spectrogram_cnn(name: str, size: tuple[int, int], channels: int) -> Built:
    cnn = SpectrogramCNN(size, channels)
    return cnn, cnn.feature_dim


def video_resnet(name: str, spec: InputSpec) -> Built:
    net = VideoResNet(name, spec.channels)
    return net, net.feature_dim


def vit(name: str, spec: InputSpec) -> Built:
    return build_vit(name, spec.size, spec.channels, SMALL_INPUT_MAX)


for family in (
    EncoderFamily(
        "resnet",
        ("image2d", "spectrogram", "clip"),
        r"resnet(10|18|34|50)(_w[1-9]\d*)?",
        frame_pooled(build_resnet),
        ("resnet10", "resnet18", "resnet34", "resnet50"),
    ),
    EncoderFamily(
        "vit",
        ("image2d", "spectrogram", "clip"),
        r"vit_(tiny|small|base)(_p\d+)?",
        vit,
        ("vit_tiny", "vit_small", "vit_base"),
    ),
    EncoderFamily(
        "spec_cnn",
        ("spectrogram", "image2d", "clip"),
        r"spec_cnn",
        frame_pooled(spectrogram_cnn),
        ("spec_cnn",),
    ),
    EncoderFamily("video_resnet", ("clip",), "|".join(VIDEO_RESNETS), video_resnet, tuple(VIDEO_RESNETS)),
):
    ENCODERS.add(family.name, family)


def backbones_for(kind: str) -> list[str]:
    """Example backbone names of every family serving ``kind``."""
    return sorted(name for family in ENCODERS.values() if kind in family.kinds for name in family.examples)


def build_encoder(backbone: str, spec: InputSpec) -> Built:
    """A randomly initialised encoder ``backbone`` for inputs described by ``spec``, and its feature size;
    KeyError for a name no family builds, ValueError for a family that does not serve ``spec.kind``."""
    family = next((family for family in ENCODERS.values() if family.builds(backbone)), None)
    if family is None:
        raise KeyError(
            f"unknown backbone {backbone!r}; for {spec.kind} inputs: {', '.join(backbones_for(spec.kind))} "
            "(ViTs take an optional _p<patch> suffix, ResNets _w<first-stage width>)"
        )
    if spec.kind not in family.kinds:
        raise ValueError(
            f"{backbone} encodes {', '.join(family.kinds)} inputs, not {spec.kind}; "
            f"for {spec.kind}: {', '.join(backbones_for(spec.kind)) or 'none registered'}"
        )
    return family.build(backbone, spec)


def build_backbone(name: str, input_size: int | tuple[int, ...], in_channels: int = 3) -> Built:
    """``build_encoder`` for sslcli's own kinds given by size alone: a side or (H, W) for images
    (B, C, H, W), (T, H, W) for clips (B, T, C, H, W)."""
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    return build_encoder(name, InputSpec("clip" if len(size) == 3 else "image2d", in_channels, size))
