"""Cutting images into a 3x3 grid of tiles with per-tile random jitter (Jigsaw, relative patch location).

Both papers leave a gap between tiles and jitter each tile inside its cell so that the network cannot
solve the task from edge continuity (Doersch et al., ICCV 2015; Noroozi & Favaro, ECCV 2016).
"""

from __future__ import annotations

import torch

GRID = 3


def cut_tiles(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 9, C, s, s) row-major cells of side s = min(H, W) // 3 (top-left crop)."""
    b, c = images.shape[:2]
    cell = min(images.shape[2:]) // GRID
    side = cell * GRID
    grid = images[:, :, :side, :side].reshape(b, c, GRID, cell, GRID, cell)  # (B, C, 3, s, 3, s)
    return grid.permute(0, 2, 4, 1, 3, 5).reshape(b, GRID * GRID, c, cell, cell)


def jitter_crop(tiles: torch.Tensor, size: int) -> torch.Tensor:
    """A random ``size`` x ``size`` crop of each tile: (B, N, C, s, s) -> (B, N, C, size, size)."""
    b, n, c, cell, _ = tiles.shape
    offsets = torch.randint(0, cell - size + 1, (b, n, 2), device=tiles.device)  # (B, N, 2)
    steps = torch.arange(size, device=tiles.device)
    rows = (offsets[..., 0, None] + steps)[:, :, None, :, None].expand(b, n, c, size, cell)
    tiles = tiles.gather(3, rows)  # (B, N, C, size, s)
    cols = (offsets[..., 1, None] + steps)[:, :, None, None, :].expand(b, n, c, size, size)
    return tiles.gather(4, cols)  # (B, N, C, size, size)


def jittered_size(cell: int, keep: float) -> int:
    """Side of the jittered crop: ``keep`` of the cell, at least 1 pixel."""
    return max(1, round(cell * keep))


def normalise_tiles(tiles: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Zero mean, unit std per tile (no shared brightness cue); (B, N, C, s, s) -> same."""
    mean = tiles.mean(dim=(2, 3, 4), keepdim=True)
    std = tiles.std(dim=(2, 3, 4), keepdim=True, correction=0)
    return (tiles - mean) / (std + eps)
