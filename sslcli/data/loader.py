"""Batches: deterministic per-epoch order (exactly replayed on resume) and collation of views."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, Dataset

from sslcli.data.datasets import SEED_MODULUS
from sslcli.data.skips import Skipped
from sslcli.domains import Sample


@dataclass
class Batch:
    views: list[Sample]  # each view's inputs stacked, e.g. {"image": (B, C, H, W)}; one view in embed
    positions: list[int]  # positions of the kept items in the item list
    skipped: list[Skipped] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.positions)


def stack_samples(samples: list[Sample]) -> Sample:
    """Samples with the same inputs -> one sample of batched inputs: each (B, ...)."""
    return {name: torch.stack([sample[name] for sample in samples]) for name in samples[0]}


def collate(items: list[tuple[int, list[Sample] | Skipped]]) -> Batch:
    kept = [(pos, views) for pos, views in items if not isinstance(views, Skipped)]
    skipped = [views for _, views in items if isinstance(views, Skipped)]
    if not kept:
        return Batch([], [], skipped)
    views = [stack_samples(list(group)) for group in zip(*(views for _, views in kept), strict=True)]
    return Batch(views, [pos for pos, _ in kept], skipped)


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


PREFETCH_BATCHES = 4  # batches each worker prepares ahead (torch's default: 2)


def make_loader(
    dataset: Dataset, batches: Iterable, num_workers: int, pin_memory: bool = False
) -> DataLoader:
    """A loader of ``batches`` (lists of dataset keys; a generator is read as the workers ask for
    more), each worker ``PREFETCH_BATCHES`` ahead.

    Its workers' seed comes from a generator of its own, so that making a loader draws nothing from
    torch's global generator: a checkpoint restores that one, and a resumed epoch's loader must leave
    it as the uninterrupted run's did (views are seeded per item, never by the worker).
    """
    return DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        prefetch_factor=PREFETCH_BATCHES if num_workers > 0 else None,
        persistent_workers=False,
        generator=torch.Generator(),
    )
