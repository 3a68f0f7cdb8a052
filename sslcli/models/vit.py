"""Vision Transformer for small and large inputs, with pooled features for embedding.

Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
ICLR 2021. Pre-norm blocks, fixed 2-D sine-cosine position embeddings and mean pooling of the final
tokens, as MAE (He et al., CVPR 2022) uses for its encoder. The patch embedding is a linear map of
each patch flattened in MAE's (p, q, c) layout (equal to a stride-p convolution), so that the
patches cut by ``sslcli.kernels.mae_random_masking`` can be embedded directly.
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn

# name -> (width, depth, heads)
VIT_SIZES = {"vit_tiny": (192, 12, 3), "vit_small": (384, 12, 6), "vit_base": (768, 12, 12)}
_VIT_NAME = re.compile(r"^(vit_(?:tiny|small|base))(?:_p(\d+))?$")


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, L, p*p*C), patches in row-major order, each laid out (p, q, c)."""
    b, c, h, w = images.shape
    p = patch_size
    x = images.reshape(b, c, h // p, p, w // p, p)  # (B, C, Hp, p, Wp, q)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(patches: torch.Tensor, patch_size: int, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """Inverse of ``patchify``: (B, L, p*p*C) -> (B, C, H, W) for ``size`` (H, W)."""
    (b, p), (height, width) = (patches.shape[0], patch_size), size
    x = patches.reshape(b, height // p, width // p, p, p, channels)  # (B, Hp, Wp, p, q, C)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(b, channels, height, width)


def sincos_position_embedding(grid: tuple[int, int], dim: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine embedding (Hp*Wp, dim) of a (Hp, Wp) patch grid: half the channels encode
    rows, half columns."""
    if dim % 4:
        raise ValueError(f"ViT width must be divisible by 4, got {dim}")
    freqs = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim // 4))  # (D/4,)
    rows, cols = torch.meshgrid(torch.arange(grid[0]), torch.arange(grid[1]), indexing="ij")
    parts = []
    for coord in (rows.reshape(-1), cols.reshape(-1)):
        angles = coord[:, None].double() * freqs[None]  # (L, D/4)
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
    """(B, C, H, W) -> (B, D) mean-pooled token features; ``tokens`` gives the per-patch features
    (B, L, D) and ``encode`` runs any subset of embedded tokens (MAE's visible patches)."""

    def __init__(
        self, size: tuple[int, int], patch_size: int, in_channels: int, dim: int, depth: int, heads: int
    ):
        super().__init__()
        if size[0] % patch_size or size[1] % patch_size:
            raise ValueError(f"input size {size} is not divisible by the patch size {patch_size}")
        self.patch_size, self.in_channels, self.dim = patch_size, in_channels, dim
        self.grid = (size[0] // patch_size, size[1] // patch_size)  # (Hp, Wp)
        self.patch_embed = nn.Linear(patch_size * patch_size * in_channels, dim)
        pos = sincos_position_embedding(self.grid, dim)[None]  # (1, L, D)
        self.register_buffer("pos_embed", pos, persistent=False)
        self.blocks = transformer_blocks(dim, depth, heads)
        self.norm = nn.LayerNorm(dim)

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Embedded tokens with positions added (B, n, D) -> normalised encoder output (B, n, D)."""
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, L, D): one feature per patch, in row-major patch order."""
        embedded = self.patch_embed(patchify(images, self.patch_size)) + self.pos_embed  # (B, L, D)
        return self.encode(embedded)

    def time_steps(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, Wp, D): the patch columns (a spectrogram's time steps), each the mean
        of its patches."""
        tokens = self.tokens(images)  # (B, Hp * Wp, D)
        return tokens.reshape(len(tokens), *self.grid, self.dim).mean(dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.tokens(images).mean(dim=1)  # (B, D)


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
    name: str, size: tuple[int, int], in_channels: int, small_input_max: int
) -> tuple[nn.Module, int]:
    vit_size, patch = parse_vit_name(name)
    dim, depth, heads = VIT_SIZES[vit_size]
    patch = patch or default_patch_size(size, small_input_max)
    return VisionTransformer(size, patch, in_channels, dim, depth, heads), dim
