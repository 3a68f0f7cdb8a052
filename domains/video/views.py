"""Clip views: where a clip starts in the decoded stretch, then SimCLR's spatial augmentations drawn
once per clip and applied to every frame alike (torchvision's v2 transforms on a ``Video``).

Two views of an item are two clips of the same video at independent uniform starts, so the gap
between them follows a decreasing (triangular) distribution: near clips are positives more often
than far ones, as CVRL samples them (Qian et al., "Spatiotemporal Contrastive Video Representation
Learning", CVPR 2021), with ρBYOL's two clips per video (Feichtenhofer et al., CVPR 2021).
"""

from __future__ import annotations

from typing import Any

import torch
from sslcli.domains.base import resize_crop_normalise
from sslcli.domains.natural import IMAGENET_MEAN, IMAGENET_STD, SimCLRViewOptions, simclr_transform
from sslcli.domains.options import CropScale
from torchvision import tv_tensors
from torchvision.transforms import v2


class ClipViewOptions(SimCLRViewOptions):
    """SimCLR's spatial augmentations (crop, flip, colour jitter, grayscale, blur), once per clip;
    crops keep 30-100% of the frame, as CVRL's do."""

    crop_scale: CropScale = (0.3, 1.0)


def clip_at(stretch: torch.Tensor, frames: int, start: int) -> torch.Tensor:
    """``frames`` consecutive frames of ``stretch`` (N, 3, H, W) from ``start``; a stretch shorter
    than that repeats its last frame."""
    short = frames - stretch.shape[0]
    if short > 0:
        stretch = torch.cat([stretch, stretch[-1:].expand(short, -1, -1, -1)])
    return stretch[start : start + frames]  # (T, 3, H, W)


def as_video(clip: torch.Tensor) -> tv_tensors.Video:
    return tv_tensors.Video(clip.float() / 255)  # uint8 (T, 3, H, W) -> [0, 1]


class ClipAugment:
    """Decoded stretch uint8 (N, 3, H, W) -> one normalised clip view (T, 3, S, S)."""

    def __init__(self, frames: int, input_size: int, options: ClipViewOptions):
        self.frames, self.spatial = frames, simclr_transform(input_size, options)

    def __call__(self, stretch: torch.Tensor) -> torch.Tensor:
        return self.at(stretch, int(torch.randint(0, max(stretch.shape[0] - self.frames, 0) + 1, ())))

    def at(self, stretch: torch.Tensor, start: int) -> torch.Tensor:
        """The augmented clip of ``stretch`` starting at frame ``start``."""
        clip = self.spatial(as_video(clip_at(stretch, self.frames, start)))  # same draw for every frame
        return clip.as_subclass(torch.Tensor)


class MiddleClip:
    """The deterministic clip embed and eval use: the middle ``frames`` frames of a stretch, short side
    resized to ``input_size``, centre-cropped, normalised; (N, 3, H, W) uint8 -> (T, 3, S, S)."""

    def __init__(self, frames: int, input_size: int):
        self.frames = frames
        self.resize = v2.Compose(
            [
                v2.Resize(input_size, antialias=True),
                v2.CenterCrop(input_size),
                v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            ]
        )

    def __call__(self, stretch: torch.Tensor) -> torch.Tensor:
        return self.at(stretch, middle_start(stretch.shape[0], self.frames))

    def at(self, stretch: torch.Tensor, start: int) -> torch.Tensor:
        """The clip of ``stretch`` starting at frame ``start``, resized and normalised."""
        return self.resize(as_video(clip_at(stretch, self.frames, start))).as_subclass(torch.Tensor)


def middle_clip_record(frames: int, input_size: int, decode: str) -> dict[str, Any]:
    """What ``MiddleClip`` does to a stretch decoded as ``decode`` says, for ``Domain.preprocessing``."""
    return {
        "decode": f"{decode}; uint8 RGB / 255 -> float32 in [0, 1], (T, 3, H, W)",
        "steps": ["decode", "frames", "resize", "center_crop", "normalize"],
        "frames": f"the middle {frames} frames (a shorter stretch repeats its last frame)",
        **resize_crop_normalise(input_size, IMAGENET_MEAN, IMAGENET_STD),
    }


def middle_start(length: int, frames: int) -> int:
    """Where the middle ``frames`` of ``length`` start (0 when there are fewer)."""
    return max(length - frames, 0) // 2
