"""Datasets over discovered items: per-item augmentation seeds independent of workers, batch size
and resumes; every failure of one file's decode or views becomes a ``Skipped`` record."""

from __future__ import annotations

from collections.abc import Callable, Collection

import torch
from torch.utils.data import DataLoader, Dataset

from sslcli.data.skips import SkipLog, Skipped, skip_reason
from sslcli.domains.base import Domain, Item, Sample, ViewFn

SEED_MODULUS = 2**63


def item_seed(seed: int, epoch: int, position: int) -> int:
    """Augmentation seed of one item in one epoch: independent of workers, batch size and resumes.

    Reduced mod 2**63 so that any valid seed (``config.MAX_SEED``) stays within what torch accepts.
    """
    return ((seed * 1_000_003 + epoch) * 10_000_019 + position) % SEED_MODULUS


class ViewDataset(Dataset):
    """Indexed by ``(epoch, position)``; returns the item's views or a ``Skipped`` record."""

    def __init__(self, domain: Domain, items: list[Item], view_fn: ViewFn, seed: int):
        self.domain, self.items, self.view_fn, self.seed = domain, items, view_fn, seed

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: tuple[int, int]):
        epoch, position = key
        item = self.items[position]
        try:  # any failure of one file's decode or views is that file's problem, never a crash
            return position, self.draw(self.domain.load(item), epoch, position)
        except Exception as err:
            return position, Skipped(
                item.item_id, skip_reason(err, self.domain), self.domain.describe_item(item)
            )

    def draw(self, sample: Sample, epoch: int, position: int) -> list[Sample]:
        """The views of the item at ``position`` in ``epoch``, from its decoded ``sample``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(item_seed(self.seed, epoch, position))
            return self.view_fn(sample)


class EvalDataset(Dataset):
    """Indexed by position; returns the deterministically resized sample (of ``inputs`` only, where
    given) or a ``Skipped`` record."""

    def __init__(
        self,
        domain: Domain,
        items: list[Item],
        transform: Callable[[Sample], Sample],
        inputs: Collection[str] | None = None,
    ):
        self.domain, self.items, self.transform, self.inputs = domain, items, transform, inputs

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, position: int):
        item = self.items[position]
        try:
            sample = self.domain.load(item) if self.inputs is None else self.domain.load(item, self.inputs)
            return position, [self.transform(sample)]
        except Exception as err:
            return position, Skipped(
                item.item_id, skip_reason(err, self.domain), self.domain.describe_item(item)
            )


class ScanDataset(Dataset):
    """Indexed by position; decodes the item and returns ``None`` or a ``Skipped`` record."""

    def __init__(self, domain: Domain, items: list[Item]):
        self.domain, self.items = domain, items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, position: int) -> Skipped | None:
        item = self.items[position]
        try:
            self.domain.load(item)
        except Exception as err:
            return Skipped(item.item_id, skip_reason(err, self.domain), self.domain.describe_item(item))
        return None


def scan_items(domain: Domain, items: list[Item], skips: SkipLog, num_workers: int, progress) -> list[Item]:
    """Decode every item once, before training: bad files stop the run at once (``raise``) or are
    recorded (``skip``) so that the reported counts cover the whole folder. Returns the usable items."""
    task = progress.add_task("checking files", total=len(items))
    loader = DataLoader(ScanDataset(domain, items), batch_size=64, num_workers=num_workers, collate_fn=list)
    for records in loader:
        skips.add([record for record in records if record is not None])
        progress.update(task, advance=len(records))
    return skips.kept(items)
