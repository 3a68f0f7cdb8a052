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

from sslcli.data import SkipLog
from sslcli.encoder import load_encoder
from sslcli.engine.checkpoint import atomic_write
from sslcli.engine.setup import discover_items, lookup_domain, resolve_device
from sslcli.errors import UserError
from sslcli.features import feature_batches
from sslcli.labels import attach_labels
from sslcli.npy_stream import NpyRowWriter
from sslcli.progress import item_progress

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


def sha256_of_ids(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def save_state(out: Path, state: EmbedState) -> None:
    atomic_write(
        out / "embed_state.json", lambda tmp: Path(tmp).write_text(json.dumps(vars(state), indent=1))
    )


def resume_state(out: Path, fresh: EmbedState) -> EmbedState:
    """The saved state if it belongs to the same encoder and items, else ``fresh`` for an empty folder."""
    path = out / "embed_state.json"
    if not path.is_file():
        if out.exists() and any(out.iterdir()):
            raise UserError(f"{out}: folder is not empty and holds no embed job; choose another --out")
        return fresh
    try:
        saved = EmbedState(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as err:
        raise UserError(f"{path}: unreadable embed state ({err})") from None
    if (saved.encoder_sha256, saved.items_sha256) != (fresh.encoder_sha256, fresh.items_sha256):
        raise UserError(f"{out}: holds embeddings of another encoder or data set; choose another --out")
    return saved


def truncate_index(path: Path, rows: int) -> None:
    """Keep the header and the first ``rows`` records of index.csv (drops rows after the last save)."""
    kept = [list(INDEX_COLUMNS)]
    if path.is_file():
        with path.open(newline="") as handle:
            kept += list(csv.reader(handle))[1 : rows + 1]
    with path.open("w", newline="") as handle:
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
    fresh = EmbedState(
        sha256_of_file(run_dir / "encoder.safetensors"), sha256_of_ids([i.item_id for i in items]), dim=dim
    )
    state = resume_state(out, fresh)
    if state.done:
        return EmbedResult(out, state.rows, state.dim, len(items), state.skipped, 0.0, already_done=True)
    out.mkdir(parents=True, exist_ok=True)
    index_path = out / "index.csv"
    truncate_index(index_path, state.rows)
    writer = NpyRowWriter(out / "embeddings.npy", state.dim, state.rows)
    skips = SkipLog(on_error, data)
    skips.records.update(state.skipped)
    started = time.perf_counter()
    with item_progress(console) as progress, index_path.open("a", newline="") as index_handle:
        task = progress.add_task("embed", total=len(items), completed=state.next_position)
        index = csv.writer(index_handle)
        for positions, features, consumed in feature_batches(
            encoder,
            domain,
            items,
            config.input_size,
            batch_size,
            resolve_device(device_name),
            skips,
            num_workers,
            start=state.next_position,
        ):
            if positions:
                writer.append(features.numpy())
                index.writerows(
                    (state.rows + i, items[p].item_id, items[p].rel_path, items[p].label or "")
                    for i, p in enumerate(positions)
                )
                index_handle.flush()
            state.rows = writer.rows
            state.next_position += consumed
            state.skipped = dict(skips.records)
            save_state(out, state)
            progress.update(task, completed=state.next_position)
    writer.close()
    state.done = True
    save_state(out, state)
    skips.write(out / "skipped.csv")
    return EmbedResult(
        out, state.rows, state.dim, len(items), state.skipped, time.perf_counter() - started, False
    )
