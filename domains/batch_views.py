"""SimCLR's colour stages on whole batches on the training device (Chen et al., "A Simple Framework
for Contrastive Learning of Visual Representations", ICML 2020, appendix A): colour jitter, random
grayscale, Gaussian blur, then solarize (BYOL's) and normalisation, each with its own random
parameters and gate per sample, by kornia's augmentation modules (Riba et al., "Kornia: an Open
Source Differentiable Computer Vision Library for PyTorch", WACV 2020).

Parameters are drawn from torch's global generator on the batch's device, which the engine's
checkpoints save and restore. The jitter's formulas are torchvision's; its factors are drawn per
sample, the order of its four adjustments once per batch (torchvision draws it per image).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import kornia.augmentation as K
import torch

if TYPE_CHECKING:
    from sslcli.domains.natural import SimCLRViewOptions


def colour_stages(
    side: int, opts: SimCLRViewOptions, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device
) -> torch.nn.Sequential:
    """The colour stages for images of ``side`` pixels (the blur's kernel scales with it) drawing on
    ``device``; stages whose probability is 0 are left out."""
    kernel, sigma = opts.blur(side)
    gated = [
        K.ColorJitter(*opts.jitter, p=opts.jitter_p),
        K.RandomGrayscale(p=opts.grayscale_p),  # ITU-R 601 luma, as torchvision's
        K.RandomGaussianBlur(kernel, sigma, border_type="reflect", p=opts.blur_p),
        K.RandomSolarize(thresholds=(0.5, 0.5), additions=0.0, p=opts.solarize_p),  # x >= 0.5 -> 1 - x
    ]
    normalise = K.Normalize(torch.tensor(mean, device=device), torch.tensor(std, device=device))
    # ``to`` makes kornia draw on that device
    return torch.nn.Sequential(*[stage for stage in gated if stage.p > 0], normalise).to(device)


class BatchColourViews:
    """(B, 3, S, S) in [0, 1] -> (B, 3, S, S) augmented and normalised, on the batch's device; one set
    of stages per side (multi-crop's global and local crops differ)."""

    def __init__(self, opts: SimCLRViewOptions, mean: tuple[float, ...], std: tuple[float, ...]):
        self.opts, self.mean, self.std = opts, mean, std
        self.stages: dict[tuple[int, torch.device], torch.nn.Sequential] = {}

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        side, device = images.shape[-1], images.device
        if (side, device) not in self.stages:
            self.stages[side, device] = colour_stages(side, self.opts, self.mean, self.std, device)
        return self.stages[side, device](images)
