"""Vision Transformer for images and clips, small and large inputs, with pooled features for embedding.

Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
ICLR 2021. Pre-norm blocks, fixed sine-cosine position embeddings and mean pooling of the final
tokens, as MAE (He et al., CVPR 2022) uses for its encoder. The patch embedding is a linear map of
each patch flattened in MAE's (p, q, c) layout (equal to a stride-p convolution,
``sslcli.models.patch_grid``). ``tokens(x, mask)`` drops the hidden patches after their embedding,
so masked methods reach no internals (``sslcli.models.protocol``).

Clips (B, T, C, H, W) are cut into tubelets of ``TUBELET`` frames x p x p pixels, embedded the same way
from their (t, p, q, c) layout (Tong et al., "VideoMAE", NeurIPS 2022: 2x16x16 cubes), tokens ordered
time-group-major as the masking kernel's tube-masked patches, with a 3-axis sin-cos position embedding.
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn

from sslcli.models.patch_grid import PatchGrid
from sslcli.models.protocol import visible_tokens

# name -> (width, depth, heads)
VIT_SIZES = {"vit_tiny": (192, 12, 3), "vit_small": (384, 12, 6), "vit_base": (768, 12, 12)}
_VIT_NAME = re.compile(r"^(vit_(?:tiny|small|base))(?:_p(\d+))?$")
TUBELET = 2  # frames per clip token (VideoMAE's)


def sincos_position_embedding(grid: tuple[int, ...], dim: int) -> torch.Tensor:
    """Fixed sine-cosine embedding (L, dim) of a patch grid such as (Hp, Wp) or (G, Hp, Wp), positions
    in row-major order: each axis encodes its coordinate in dim / axes channels, half sines, half
    cosines (for two axes: rows, then columns)."""
    axes = len(grid)
    if dim % (2 * axes):
        raise ValueError(
            f"a {axes}-axis sin-cos position embedding needs a width divisible by {2 * axes}, got {dim}"
        )
    band = dim // (2 * axes)
    freqs = 1.0 / 10000 ** (torch.arange(band, dtype=torch.float64) / band)  # (D / 2A,)
    parts = []
    for coord in torch.meshgrid(*(torch.arange(n) for n in grid), indexing="ij"):
        angles = coord.reshape(-1, 1).double() * freqs[None]  # (L, D / 2A)
        parts += [angles.sin(), angles.cos()]
    return torch.cat(parts, dim=1).float()  # (L, D)


def transformer_blocks(dim: int, depth: int, heads: int) -> nn.ModuleList:
    return nn.ModuleList(
        nn.TransformerEncoderLayer(
            dim, heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        for _ in range(depth)
    )


class VisionTransformer(nn.Module):
    """(B, C, H, W), or a clip (B, T, C, H, W), -> (B, D) mean-pooled token features; ``tokens`` gives
    the per-patch features (B, L, D), or those of the visible patches only. ``size`` is (H, W), or
    (T, H, W) for clips, whose tokens are tubelets of ``tubelet`` frames: L = G * Hp * Wp tokens, time
    group by time group (``patch_grid``)."""

    def __init__(
        self,
        size: tuple[int, ...],
        patch_size: int,
        in_channels: int,
        dim: int,
        depth: int,
        heads: int,
        tubelet: int = 1,
    ):
        super().__init__()
        *frames, height, width = size
        if height % patch_size or width % patch_size:
            raise ValueError(f"input size {(height, width)} is not divisible by the patch size {patch_size}")
        if frames and frames[0] % tubelet:
            raise ValueError(
                f"a clip ViT embeds tubelets of {tubelet} frames: clips of {frames[0]} frames do not "
                f"divide into them (use a multiple of {tubelet} frames)"
            )
        tubelet = tubelet if frames else 1
        grid = (*(f // tubelet for f in frames), height // patch_size, width // patch_size)
        self.patch_grid = PatchGrid(grid, patch_size, tubelet, in_channels)
        self.dim = dim
        self.patch_embed = nn.Linear(self.patch_grid.patch_values, dim)
        pos = sincos_position_embedding(grid, dim)[None]  # (1, L, D)
        self.register_buffer("pos_embed", pos, persistent=False)
        self.blocks = transformer_blocks(dim, depth, heads)
        self.norm = nn.LayerNorm(dim)

    def tokens(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, H, W) or (B, T, C, H, W) -> (B, L, D): one feature per patch (tubelet), in ``patchify``
        order; with ``mask`` (B, L), True = hidden, only the visible patches enter the blocks
        -> (B, L_visible, D)."""
        embedded = self.patch_embed(self.patch_grid.patchify(x)) + self.pos_embed  # (B, L, D)
        if mask is not None:
            embedded = visible_tokens(embedded, mask)  # (B, L_visible, D)
        for block in self.blocks:
            embedded = block(embedded)
        return self.norm(embedded)

    def time_steps(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> (B, Wp, D): the patch columns (a spectrogram's time steps), each the
        mean of its patches; clips (B, T, C, H, W) -> (B, G, D): each time group's mean."""
        grid = self.patch_grid.grid
        tokens = self.tokens(x).reshape(len(x), *grid, self.dim)  # (B, [G,] Hp, Wp, D)
        if len(grid) == 3:
            return tokens.mean(dim=(2, 3))  # (B, G, D)
        return tokens.mean(dim=1)  # (B, Wp, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tokens(x).mean(dim=1)  # (B, D)


def parse_vit_name(name: str) -> tuple[str, int | None] | None:
    """``vit_tiny`` or ``vit_tiny_p4`` -> (size name, patch size or None); None for other names."""
    match = _VIT_NAME.match(name)
    if match is None:
        return None
    return match.group(1), int(match.group(2)) if match.group(2) else None


def default_patch_size(size: tuple[int, int], small_input_max: int) -> int:
    """16 (the ViT paper's) for large inputs; for small ones the largest patch that divides both sides
    and leaves at least 8 patches along the shorter one."""
    if min(size) > small_input_max:
        return 16
    return next(p for p in range(max(1, min(size) // 8), 0, -1) if size[0] % p == 0 == size[1] % p)


def build_vit(
    name: str, size: tuple[int, ...], in_channels: int, small_input_max: int
) -> tuple[nn.Module, int]:
    """The ViT ``name`` for images (H, W), or for clips (T, H, W) with tubelets of ``TUBELET`` frames;
    the patch side from the name's ``_p`` suffix, else ``default_patch_size`` of (H, W)."""
    vit_size, patch = parse_vit_name(name)
    dim, depth, heads = VIT_SIZES[vit_size]
    patch = patch or default_patch_size(size[-2:], small_input_max)
    tubelet = TUBELET if len(size) == 3 else 1
    return VisionTransformer(size, patch, in_channels, dim, depth, heads, tubelet), dim
