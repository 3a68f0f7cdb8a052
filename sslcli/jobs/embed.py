"""``sslcli embed``: stream a corpus through a trained encoder into embeddings (``.npy`` or Parquet)
plus ``index.csv``, in one folder or as shards writing their own parts of one output folder.

Memory does not grow with the corpus (rows go to disk batch by batch). ``embed_state.json`` records
progress whenever every row written so far is durable (after each batch for npy, after each closed
file for Parquet), so re-running an interrupted job continues where it stopped; a finished part is
never recomputed. The layout of OUT, the job record and the manifest are in ``embed_layout``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sslcli.data.labels import attach_labels, shown_labels
from sslcli.data.skips import SkipLog
from sslcli.distributed import local_device
from sslcli.domains import Domain, Item
from sslcli.engine.features import feature_batches
from sslcli.engine.run_record import ids_fingerprint
from sslcli.engine.setup import discover_items, resolve_device
from sslcli.errors import UserError, printable
from sslcli.jobs import embed_layout as layout
from sslcli.jobs.encoder import open_trained_run, trained_encoder
from sslcli.jobs.npy_stream import MissingRows, NpyRowWriter
from sslcli.jobs.parquet_stream import ParquetRowWriter, Record, ResumeMismatch
from sslcli.jobs.pooled import POOLED, POOLED_INDEX, write_pooled
from sslcli.jobs.shards import Shard, resolve_shard
from sslcli.reporting.progress import item_progress
from sslcli.run_dir import (
    ENCODER,
    SKIPPED,
    atomic_write,
    clean_temp_files,
    disk_full_guard,
    exclusive,
    folder_state,
)

INDEX_COLUMNS = ("row", "item_id", "path", "label", "start_s", "end_s")


@dataclass
class EmbedState:
    encoder_sha256: str
    items_sha256: str  # of the items this folder embeds (a shard's slice, or all)
    dim: int
    next_position: int = 0  # items[:next_position] are embedded or skipped
    rows: int = 0
    done: bool = False
    skipped: dict[str, str] = field(default_factory=dict)
    format: str = "npy"  # states written before Parquet existed are npy
    files: int = 0  # Parquet: closed data files holding the ``rows`` rows
    input: str | None = None  # the input embedded, where the run has an encoder per input


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_state(out: Path, state: EmbedState) -> None:
    atomic_write(out / layout.STATE, lambda tmp: Path(tmp).write_text(json.dumps(vars(state), indent=1)))


def resume_state(out: Path, fresh: EmbedState) -> EmbedState:
    """The saved state if it belongs to the same encoder and items, else ``fresh`` for a new folder."""
    path = out / layout.STATE
    if not path.is_file():
        if folder_state(out) != "new":
            raise UserError(f"{out}: folder is not empty and holds no embed job; choose another --out")
        return fresh
    try:
        saved = EmbedState(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: unreadable embed state ({type(err).__name__})") from None
    if saved.next_position == 0:  # stopped before its first saved batch: nothing to keep
        return fresh
    saved_job, fresh_job = (
        (state.encoder_sha256, state.items_sha256, state.input) for state in (saved, fresh)
    )
    if saved_job != fresh_job:
        raise UserError(f"{out}: holds embeddings of another encoder or data set; choose another --out")
    if saved.format != fresh.format:
        raise UserError(
            f"{out}: holds {saved.format} embeddings; run with --format {saved.format} "
            "or choose another --out"
        )
    return saved


def truncate_index(path: Path, rows: int) -> None:
    """Keep the header and the first ``rows`` records of index.csv (drops rows after the last save)."""
    kept = [list(INDEX_COLUMNS)]
    if path.is_file():
        with path.open(newline="") as handle:
            kept += list(csv.reader(handle))[1 : rows + 1]
    with disk_full_guard(path), path.open("w", newline="") as handle:
        csv.writer(handle).writerows(kept)


@dataclass
class EmbedResult:
    out: Path
    rows: int
    dim: int
    items_found: int
    skipped: dict[str, str]
    seconds: float
    already_done: bool
    folder: Path | None = None  # where this process's files are: OUT, or OUT/parts/part-<i>-of-<n>
    fmt: str = "npy"
    shard: Shard = field(default_factory=Shard)
    shard_items: int = 0  # items in this shard's slice
    manifest: Path | None = None  # OUT/manifest.json once every part of a sharded job is complete
    waiting: list[int] = field(default_factory=list)  # shards not complete yet
    pooled_files: int = 0  # per-file rows written to pooled.npy (recordings cut into segments)

    @property
    def pooled(self) -> Path:
        return self.out / POOLED

    @property
    def embeddings(self) -> Path:
        return (self.folder or self.out) / layout.FORMATS[self.fmt]


def embed_corpus(
    run_dir: Path,
    data: Path,
    out: Path,
    batch_size: int,
    device_name: str,
    on_error: str,
    num_workers: int,
    console,
    domain_name: str | None = None,
    *,
    shard: Shard | str | None = None,
    fmt: str = "npy",
    input_name: str | None = None,
) -> EmbedResult:
    """Embed ``data`` (or this process's shard of it: ``shard``, else torchrun's rank/world) into ``out``."""
    if fmt not in layout.FORMATS:
        raise UserError(f"--format {fmt!r}: choose one of {', '.join(layout.FORMATS)}")
    shard = resolve_shard(shard)
    run = open_trained_run(run_dir)
    config, domain = run.config, run.domain
    encoder, dim = trained_encoder(run, input_name)
    if domain_name is not None and domain_name != config.domain:
        raise UserError(f"{run_dir}: the run was trained on domain {config.domain!r}, not {domain_name!r}")
    # where paths may identify patients, sub-folder names are never used (nor written) as labels
    items = attach_labels(data, discover_items(domain, data), folder_labels=not domain.identifying_paths)
    labels = shown_labels([item.label for item in items], verbatim=not domain.identifying_paths)
    encoder_sha256 = sha256_of_file(run_dir / ENCODER)
    start, stop = shard.bounds(len(items))  # labels are numbered over all items, then sliced
    job = EmbedJob(
        encoder, domain, items[start:stop], labels[start:stop], config.input_size, SkipLog(on_error, data),
        input_name,
    )  # fmt: skip
    fresh = EmbedState(encoder_sha256, ids_fingerprint(job.items), dim=dim, format=fmt, input=input_name)
    device = local_device(resolve_device(device_name))
    run = PartRun(job, fresh, device, batch_size, num_workers, console)
    if shard.whole:
        with exclusive(out, "embed output folder"):
            layout.refuse_sharded_job(out)
            clean_temp_files(out)
            result = run.into(out)
            segmented = any(item.span() is not None for item in job.items)
            if segmented and not (out / POOLED_INDEX).is_file():
                result.pooled_files = write_pooled(out, fmt, dim)
        return _with(result, out, len(items), shard)
    record = layout.job_record(shard.count, fmt, dim, encoder_sha256, len(items), ids_fingerprint(items))
    with exclusive(out, "embed output folder", shared=True):
        layout.claim_job(out, record)
        folder = layout.part_folder(out, shard)
        with exclusive(folder, f"shard {shard} of the embed job"):
            clean_temp_files(folder)
            result = run.into(folder)
        result.manifest, result.waiting = layout.finalize(out, record)
    return _with(result, out, len(items), shard)


def _with(result: EmbedResult, out: Path, items_found: int, shard: Shard) -> EmbedResult:
    result.out, result.items_found, result.shard = out, items_found, shard
    return result


@dataclass
class EmbedJob:
    encoder: torch.nn.Module
    domain: Domain
    items: list[Item]
    labels: list[str | None]  # as they may be written (``shown_labels``)
    input_size: int
    skips: SkipLog
    input_name: str | None = None  # the input embedded, where samples hold several


@dataclass
class PartRun:
    """One folder's worth of work: resume or start it, and stream its rows."""

    job: EmbedJob
    fresh: EmbedState
    device: torch.device
    batch_size: int
    num_workers: int
    console: object

    def into(self, folder: Path) -> EmbedResult:
        state = resume_state(folder, self.fresh)
        items = len(self.job.items)
        result = EmbedResult(
            folder, state.rows, state.dim, items, state.skipped, 0.0, state.done, folder, state.format
        )
        result.shard_items = items
        if state.done:
            return result
        save_state(folder, state)  # from here on, running the same command again continues the job
        started = time.perf_counter()
        write_embeddings(
            self.job, state, folder, self.device, self.batch_size, self.num_workers, self.console
        )
        result.rows, result.skipped = state.rows, state.skipped
        result.seconds = time.perf_counter() - started
        return result


class NpyRows:
    """``NpyRowWriter`` behind the interface ``write_embeddings`` uses (every append is durable)."""

    settled = True
    files = 0

    def __init__(self, folder: Path, dim: int, rows: int, files: int):
        self.writer = NpyRowWriter(folder / layout.NPY, dim, rows)

    def append(self, vectors: np.ndarray, records: list[Record]) -> None:
        self.writer.append(vectors)

    def close(self) -> None:
        self.writer.close()


class ParquetRows(ParquetRowWriter):
    def __init__(self, folder: Path, dim: int, rows: int, files: int):
        super().__init__(folder / layout.PARQUET, dim, rows, files)


def open_rows(folder: Path, state: EmbedState, console) -> NpyRows | ParquetRows:
    """The row writer of ``state.format``, continuing at ``state``'s cursor (a part whose files hold
    fewer rows than the cursor says, e.g. removed by hand, starts over rather than refusing to run)."""
    opened = NpyRows if state.format == "npy" else ParquetRows
    try:
        return opened(folder, state.dim, state.rows, state.files)
    except (MissingRows, ResumeMismatch) as err:
        console.print(f"{folder}: {err}; embedding this part again from the start")
        state.next_position, state.rows, state.files, state.skipped = 0, 0, 0, {}
        save_state(folder, state)
        return opened(folder, state.dim, 0, 0)


def write_embeddings(
    job: EmbedJob, state: EmbedState, out: Path, device, batch_size: int, num_workers: int, console
) -> None:
    """Append rows for ``job.items[state.next_position:]``, saving ``state`` whenever they are durable."""
    rows_out = open_rows(out, state, console)
    index_path = out / layout.INDEX
    truncate_index(index_path, state.rows)
    job.skips.records.update(state.skipped)
    items = job.items
    position, rows = state.next_position, state.rows
    with item_progress(console) as progress, index_path.open("a", newline="") as index_handle:
        task = progress.add_task("embed", total=len(items), completed=position)
        index = csv.writer(index_handle)
        batches = feature_batches(
            job.encoder,
            job.domain,
            items,
            job.input_size,
            batch_size,
            device,
            job.skips,
            num_workers,
            start=position,
            input_name=job.input_name,
        )
        for positions, features, consumed in batches:
            position += consumed
            if positions:
                records = [index_record(rows + i, items[p], job.labels[p]) for i, p in enumerate(positions)]
                rows_out.append(features.numpy(), records)
                with disk_full_guard(index_path):
                    index.writerows(
                        [row, item_id, path, label or "", *("" if t is None else t for t in span)]
                        for row, item_id, path, label, *span in records
                    )
                    index_handle.flush()
                rows += len(records)
            if rows_out.settled:
                _advance(out, state, job, position, rows, rows_out.files)
            progress.update(task, completed=position)
        rows_out.close()
    job.skips.write(out / SKIPPED)  # before the state says done: a done part has all its files
    state.done = True
    _advance(out, state, job, position, rows, rows_out.files)


def index_record(row: int, item: Item, label: str | None) -> Record:
    """One row's index entry, its names escaped as the terminal shows them (``printable``);
    ``start_s``/``end_s`` where the item is a stretch of a recording."""
    start, end = item.span() or (None, None)
    label = None if label is None else printable(label)
    return row, printable(item.item_id), printable(item.rel_path), label, start, end


def _advance(out: Path, state: EmbedState, job: EmbedJob, position: int, rows: int, files: int) -> None:
    state.next_position, state.rows, state.files = position, rows, files
    state.skipped = dict(job.skips.records)
    save_state(out, state)
