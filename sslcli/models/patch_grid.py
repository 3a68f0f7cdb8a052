"""Patches of images and tubelets of clips, in the layout MAE's code and ``sslcli.kernels`` use.

He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022: a patch p x p is flattened
(p, q, c); Tong et al., "VideoMAE", NeurIPS 2022: a clip's tubelet of t frames (t, p, q, c), the time
groups first. ``PatchGrid`` tells a method what each token of a patch encoder covers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def patchify(x: torch.Tensor, patch_size: int, tubelet: int = 1) -> torch.Tensor:
    """(B, C, H, W) -> (B, L, p*p*C), patches in row-major order, each laid out (p, q, c); a clip
    (B, T, C, H, W) -> (B, G*L, t*p*p*C), the G = T / t time groups first, each tubelet (t, p, q, c)."""
    t = tubelet if x.ndim == 5 else 1
    clips = x if x.ndim == 5 else x[:, None]  # (B, T, C, H, W)
    b, frames, c, h, w = clips.shape
    p = patch_size
    v = clips.reshape(b, frames // t, t, c, h // p, p, w // p, p)  # (B, G, t, C, Hp, p, Wp, q)
    v = v.permute(0, 1, 4, 6, 2, 5, 7, 3)  # (B, G, Hp, Wp, t, p, q, C)
    return v.reshape(b, (frames // t) * (h // p) * (w // p), t * p * p * c)


def unpatchify(
    patches: torch.Tensor, patch_size: int, channels: int, size: tuple[int, ...], tubelet: int = 1
) -> torch.Tensor:
    """Inverse of ``patchify``: (B, L, P) -> (B, C, H, W) for ``size`` (H, W), or (B, T, C, H, W) for
    ``size`` (T, H, W)."""
    frames, t = (size[0], tubelet) if len(size) == 3 else (1, 1)
    (height, width), b, p = size[-2:], patches.shape[0], patch_size
    grid = (frames // t, height // p, width // p)
    x = patches.reshape(b, *grid, t, p, p, channels)  # (B, G, Hp, Wp, t, p, q, C)
    x = x.permute(0, 1, 4, 7, 2, 5, 3, 6).reshape(b, frames, channels, height, width)  # (B, T, C, H, W)
    return x if len(size) == 3 else x[:, 0]


@dataclass(frozen=True)
class PatchGrid:
    """Tokens that are patches: ``grid`` (Hp, Wp), or (G, Hp, Wp) time groups of tubelets of
    ``tubelet`` frames, each ``patch_size`` pixels square with ``channels`` channels, in ``patchify``
    order (time group, row, column)."""

    grid: tuple[int, ...]
    patch_size: int
    tubelet: int
    channels: int

    @property
    def time_groups(self) -> int:
        """G: a clip's tubelets along time (1 for images)."""
        return self.grid[0] if len(self.grid) == 3 else 1

    @property
    def spatial_patches(self) -> int:
        """Hp * Wp: the patches of one image, or of one time group of a clip."""
        return self.grid[-2] * self.grid[-1]

    @property
    def num_patches(self) -> int:
        return self.time_groups * self.spatial_patches

    @property
    def patch_values(self) -> int:
        """t * p * p * C: the pixel values of one token."""
        return self.tubelet * self.patch_size**2 * self.channels

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        return patchify(x, self.patch_size, self.tubelet)  # (B, N, t*p*p*C)

    def unpatchify(self, patches: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
        return unpatchify(patches, self.patch_size, self.channels, size, self.tubelet)
