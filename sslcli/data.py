"""From discovered items to batches: deterministic per-epoch order, per-item augmentation seeds,
and bad files carried as ``Skipped`` records instead of exceptions (so workers never crash)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from sslcli.domains.base import BadItemError, Domain, Item, ViewFn
from sslcli.errors import UserError
from sslcli.run_dir import write_text_atomic

SEED_MODULUS = 2**63


@dataclass(frozen=True)
class Skipped:
    """A file that could not be used, and why; ``where`` names it in messages (``Domain.describe_item``)."""

    item_id: str
    reason: str
    where: str = ""


class BadFileError(UserError):
    """Raised in ``--on-error raise`` mode for the first unusable file."""


@dataclass
class Batch:
    tensors: list[torch.Tensor]  # one (B, ...) tensor per view (pretraining) or a single one (embed)
    positions: list[int]  # positions of the kept items in the item list
    skipped: list[Skipped] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.positions)


def skip_reason(err: Exception, domain: Domain) -> str:
    """One line: a ``BadItemError``'s own reason, else ``"<ExceptionType>: <first line of its message>"``
    (only the type where paths may identify patients: a foreign message may quote the file's path)."""
    if isinstance(err, BadItemError):
        return str(err)
    lines = str(err).strip().splitlines()
    if domain.identifying_paths or not lines:
        return f"{type(err).__name__} while decoding"
    return f"{type(err).__name__}: {lines[0]}"


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
            tensor = self.domain.load(item)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(item_seed(self.seed, epoch, position))
                return position, self.view_fn(tensor)
        except Exception as err:
            return position, Skipped(
                item.item_id, skip_reason(err, self.domain), self.domain.describe_item(item)
            )


class EvalDataset(Dataset):
    """Indexed by position; returns the deterministically resized tensor or a ``Skipped`` record."""

    def __init__(self, domain: Domain, items: list[Item], transform: Callable[[torch.Tensor], torch.Tensor]):
        self.domain, self.items, self.transform = domain, items, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, position: int):
        item = self.items[position]
        try:
            return position, [self.transform(self.domain.load(item))]
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


class SkipLog:
    """Collects skipped files under ``--on-error skip``; raises on the first under ``raise``."""

    def __init__(self, on_error: str, data_root: Path):
        self.on_error, self.data_root = on_error, data_root
        self.records: dict[str, str] = {}

    def add(self, skipped: list[Skipped]) -> None:
        for record in skipped:
            if self.on_error == "raise":
                raise BadFileError(
                    f"{record.where or self.data_root / record.item_id}: {record.reason} "
                    "(use --on-error skip to skip)"
                )
            self.records.setdefault(record.item_id, record.reason)

    def read(self, path: Path) -> None:
        """Take back the records of a ``skipped.csv`` written by ``write``."""
        with path.open(newline="") as handle:
            self.records.update((row["item_id"], row["reason"]) for row in csv.DictReader(handle))

    def write(self, path: Path) -> None:
        """``item_id,reason`` rows; written even when empty so the counts can be checked."""
        lines = io.StringIO()
        writer = csv.writer(lines)
        writer.writerow(["item_id", "reason"])
        writer.writerows(sorted(self.records.items()))
        write_text_atomic(path, lines.getvalue())


def scan_items(domain: Domain, items: list[Item], skips: SkipLog, num_workers: int, progress) -> list[Item]:
    """Decode every item once, before training: bad files stop the run at once (``raise``) or are
    recorded (``skip``) so that the reported counts cover the whole folder. Returns the usable items."""
    task = progress.add_task("checking files", total=len(items))
    loader = DataLoader(ScanDataset(domain, items), batch_size=64, num_workers=num_workers, collate_fn=list)
    for records in loader:
        skips.add([record for record in records if record is not None])
        progress.update(task, advance=len(records))
    return [item for item in items if item.item_id not in skips.records]
