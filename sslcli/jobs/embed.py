"""``sslcli embed``: stream a corpus through a trained encoder into ``embeddings.npy`` + ``index.csv``.

Memory does not grow with the corpus (rows go to disk batch by batch). ``embed_state.json`` records
progress after each batch, so re-running an interrupted job continues where it stopped.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sslcli.data.labels import attach_labels, shown_labels
from sslcli.data.skips import SkipLog
from sslcli.domains import Domain, Item
from sslcli.engine.features import feature_batches
from sslcli.engine.run_record import ids_fingerprint
from sslcli.engine.setup import discover_items, lookup_domain, resolve_device
from sslcli.errors import UserError
from sslcli.jobs.encoder import load_encoder
from sslcli.jobs.npy_stream import NpyRowWriter
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

INDEX_COLUMNS = ("row", "item_id", "path", "label")


@dataclass
class EmbedState:
    encoder_sha256: str
    items_sha256: str
    dim: int
    next_position: int = 0  # items[:next_position] are embedded or skipped
    rows: int = 0
    done: bool = False
    skipped: dict[str, str] = field(default_factory=dict)


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_state(out: Path, state: EmbedState) -> None:
    atomic_write(
        out / "embed_state.json", lambda tmp: Path(tmp).write_text(json.dumps(vars(state), indent=1))
    )


def resume_state(out: Path, fresh: EmbedState) -> EmbedState:
    """The saved state if it belongs to the same encoder and items, else ``fresh`` for a new folder."""
    path = out / "embed_state.json"
    if not path.is_file():
        if folder_state(out) != "new":
            raise UserError(f"{out}: folder is not empty and holds no embed job; choose another --out")
        return fresh
    try:
        saved = EmbedState(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: unreadable embed state ({type(err).__name__})") from None
    if saved.next_position == 0:  # stopped before its first batch: nothing to keep
        return fresh
    if (saved.encoder_sha256, saved.items_sha256) != (fresh.encoder_sha256, fresh.items_sha256):
        raise UserError(f"{out}: holds embeddings of another encoder or data set; choose another --out")
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
) -> EmbedResult:
    encoder, config, dim = load_encoder(run_dir)
    if domain_name is not None and domain_name != config.domain:
        raise UserError(f"{run_dir}: the run was trained on domain {config.domain!r}, not {domain_name!r}")
    domain = lookup_domain(config.domain)
    domain.bind_run(run_dir, config.views, create=False)
    # where paths may identify patients, sub-folder names are never used (nor written) as labels
    items = attach_labels(data, discover_items(domain, data), folder_labels=not domain.identifying_paths)
    labels = shown_labels([item.label for item in items], verbatim=not domain.identifying_paths)
    fresh = EmbedState(sha256_of_file(run_dir / ENCODER), ids_fingerprint(items), dim=dim)
    job = EmbedJob(encoder, domain, items, labels, config.input_size, SkipLog(on_error, data))
    with exclusive(out, "embed output folder"):
        clean_temp_files(out)
        state = resume_state(out, fresh)
        if state.done:
            return EmbedResult(out, state.rows, state.dim, len(items), state.skipped, 0.0, already_done=True)
        save_state(out, state)  # from here on, running the same command again continues the job
        started = time.perf_counter()
        write_embeddings(job, state, out, resolve_device(device_name), batch_size, num_workers, console)
    return EmbedResult(
        out, state.rows, state.dim, len(items), state.skipped, time.perf_counter() - started, False
    )


@dataclass
class EmbedJob:
    encoder: torch.nn.Module
    domain: Domain
    items: list[Item]
    labels: list[str | None]  # as they may be written (``shown_labels``)
    input_size: int
    skips: SkipLog


def write_embeddings(
    job: EmbedJob, state: EmbedState, out: Path, device, batch_size: int, num_workers: int, console
) -> None:
    """Append rows for ``job.items[state.next_position:]``, saving ``state`` after every batch."""
    index_path = out / "index.csv"
    truncate_index(index_path, state.rows)
    writer = NpyRowWriter(out / "embeddings.npy", state.dim, state.rows)
    job.skips.records.update(state.skipped)
    items = job.items
    with item_progress(console) as progress, index_path.open("a", newline="") as index_handle:
        task = progress.add_task("embed", total=len(items), completed=state.next_position)
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
            start=state.next_position,
        )
        for positions, features, consumed in batches:
            if positions:
                writer.append(features.numpy())
                with disk_full_guard(index_path):
                    index.writerows(
                        (state.rows + i, items[p].item_id, items[p].rel_path, job.labels[p] or "")
                        for i, p in enumerate(positions)
                    )
                    index_handle.flush()
            state.rows = writer.rows
            state.next_position += consumed
            state.skipped = dict(job.skips.records)
            save_state(out, state)
            progress.update(task, completed=state.next_position)
    writer.close()
    state.done = True
    save_state(out, state)
    job.skips.write(out / SKIPPED)
