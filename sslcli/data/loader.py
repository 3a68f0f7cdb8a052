"""Batches: deterministic per-epoch order (exactly replayed on resume) and collation of views."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, Dataset

from sslcli.data.datasets import SEED_MODULUS
from sslcli.data.skips import Skipped


@dataclass
class Batch:
    tensors: list[torch.Tensor]  # one (B, ...) tensor per view (pretraining) or a single one (embed)
    positions: list[int]  # positions of the kept items in the item list
    skipped: list[Skipped] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.positions)


def collate(samples: list[tuple[int, list[torch.Tensor] | Skipped]]) -> Batch:
    kept = [(pos, views) for pos, views in samples if not isinstance(views, Skipped)]
    skipped = [views for _, views in samples if isinstance(views, Skipped)]
    if not kept:
        return Batch([], [], skipped)
    tensors = [torch.stack(view_group) for view_group in zip(*(views for _, views in kept), strict=True)]
    return Batch(tensors, [pos for pos, _ in kept], skipped)


def epoch_batches(
    num_items: int, batch_size: int, seed: int, epoch: int, weights: torch.Tensor | None = None
) -> list[list[tuple[int, int]]]:
    """The epoch's full batches of ``(epoch, position)`` keys (the last partial batch is dropped).

    The order is a permutation, or with ``weights`` (N,) N draws with replacement in proportion to
    them; either way from a generator seeded by (seed, epoch), so a resumed epoch replays it.
    """
    generator = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % SEED_MODULUS)
    if weights is None:
        order = torch.randperm(num_items, generator=generator).tolist()
    else:
        order = torch.multinomial(weights.double().cpu(), num_items, True, generator=generator).tolist()
    full = num_items // batch_size * batch_size
    return [[(epoch, p) for p in order[i : i + batch_size]] for i in range(0, full, batch_size)]


def make_loader(
    dataset: Dataset, batches: Iterable, num_workers: int, pin_memory: bool = False
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_sampler=list(batches),
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        persistent_workers=False,
    )
