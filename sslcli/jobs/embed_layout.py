"""The files of an embed output folder OUT, the sharded job's record and manifest, and a reader.

Unsharded (one process)::

    OUT/embeddings.npy | OUT/embeddings.parquet/   OUT/index.csv   OUT/embed_state.json   OUT/skipped.csv

Sharded (``--shard i/n`` or torchrun), each part laid out like the unsharded folder::

    OUT/embed_job.json             n, format, dim, encoder sha256, data set (written by the first shard)
    OUT/parts/part-<i>-of-<n>/...  one folder per shard, with its own lock and resume state
    OUT/manifest.json              written once every part is complete, by whichever finishes last

Processes of one sharded job hold a shared lock on OUT (an unsharded job holds it exclusively) and
each part's own exclusive lock; reading the job record and the parts' states happens under a lock on
``OUT/.manifest.lock``, so n processes may write into one OUT at once.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sslcli.errors import UserError
from sslcli.jobs.shards import Shard
from sslcli.run_dir import LOCK, SKIPPED, TEMP_SUFFIX, remove_leftover, write_text_atomic

STATE = "embed_state.json"
INDEX = "index.csv"
NPY = "embeddings.npy"
PARQUET = "embeddings.parquet"  # a folder of Parquet files (see ``parquet_stream``)
PARTS = "parts"
JOB = "embed_job.json"
MANIFEST = "manifest.json"
MANIFEST_LOCK = ".manifest.lock"
FORMATS = {"npy": NPY, "parquet": PARQUET}
MANIFEST_VERSION = 1
_SHARDED_NAMES = {PARTS, JOB, MANIFEST, MANIFEST_LOCK, LOCK}


def part_folder(out: Path, shard: Shard) -> Path:
    return out / PARTS / shard.name


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: unreadable ({type(err).__name__})") from None


def refuse_sharded_job(out: Path) -> None:
    """An unsharded run stops here when OUT holds a sharded job."""
    if (out / JOB).is_file() or (out / PARTS).exists():
        shards = _read_json(out / JOB).get("shards", "n") if (out / JOB).is_file() else "n"
        raise UserError(
            f"{out}: holds a sharded embed job ({shards} shards); run each shard with --shard i/{shards} "
            "or choose another --out"
        )


def _refuse_other_contents(out: Path) -> None:
    if (out / STATE).is_file():
        raise UserError(f"{out}: holds an unsharded embed job; choose another --out for a sharded one")
    others = [p for p in out.iterdir() if p.name not in _SHARDED_NAMES and not p.name.endswith(TEMP_SUFFIX)]
    if others:
        raise UserError(f"{out}: folder is not empty and holds no embed job; choose another --out")


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[Any]:
    handle = path.open("a+")
    try:
        fcntl.flock(handle, mode)
        yield handle
    finally:
        handle.close()


@contextlib.contextmanager
def manifest_lock(out: Path) -> Iterator[None]:
    """Short critical sections over the job record and the parts' states (blocks until free)."""
    with _flock(out / MANIFEST_LOCK, fcntl.LOCK_EX):
        for leftover in out.glob(f".*{TEMP_SUFFIX}"):  # a killed atomic write of the record/manifest
            remove_leftover(leftover)
        yield


def job_record(shards: int, fmt: str, dim: int, encoder_sha256: str, items: int, ids_sha256: str):
    return {
        "shards": shards,
        "format": fmt,
        "dim": dim,
        "encoder_sha256": encoder_sha256,
        "data_set": {"items": items, "ids_sha256": ids_sha256},
    }


def claim_job(out: Path, record: dict[str, Any]) -> None:
    """Write the job record, or check that this shard belongs to the job already in OUT (one line if not)."""
    with manifest_lock(out):
        _refuse_other_contents(out)
        path = out / JOB
        if not path.is_file():
            write_text_atomic(path, json.dumps(record, indent=1) + "\n")
            return
        held = _read_json(path)
        if held.get("shards") != record["shards"]:
            n = held.get("shards")
            raise UserError(
                f"{out}: holds a job split into {n} shards, not {record['shards']}; run --shard i/{n} "
                "with the same n, or choose another --out"
            )
        if (held.get("encoder_sha256"), held.get("data_set")) != (
            record["encoder_sha256"],
            record["data_set"],
        ):
            raise UserError(f"{out}: holds embeddings of another encoder or data set; choose another --out")
        if held.get("format") != record["format"]:
            raise UserError(
                f"{out}: holds {held.get('format')} embeddings; run with --format {held.get('format')} "
                "or choose another --out"
            )


def finalize(out: Path, record: dict[str, Any]) -> tuple[Path | None, list[int]]:
    """Write OUT/manifest.json if every part is complete; returns (its path or None, shards not done)."""
    count, total = record["shards"], record["data_set"]["items"]
    with manifest_lock(out):
        states = {}
        for index in range(count):
            path = part_folder(out, Shard(index, count)) / STATE
            states[index] = _read_json(path) if path.is_file() else {}
        waiting = [index for index, state in states.items() if not state.get("done")]
        if waiting:
            return None, waiting
        parts, first_row = [], 0
        for index in range(count):
            shard, state = Shard(index, count), states[index]
            start, stop = shard.bounds(total)
            folder = f"{PARTS}/{shard.name}"
            parts.append(
                {
                    "shard": index,
                    "folder": folder,
                    "embeddings": f"{folder}/{FORMATS[record['format']]}",
                    "index": f"{folder}/{INDEX}",
                    "skipped_csv": f"{folder}/{SKIPPED}",
                    "first_item": start,
                    "items": stop - start,
                    "first_row": first_row,
                    "rows": state["rows"],
                    "skipped": len(state.get("skipped", {})),
                }
            )
            first_row += state["rows"]
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            **record,
            "dtype": "float32",
            "rows": first_row,
            "skipped": sum(part["skipped"] for part in parts),
            "parts": parts,
        }
        text = json.dumps(manifest, indent=1) + "\n"
        path = out / MANIFEST
        if not path.is_file() or path.read_text() != text:
            write_text_atomic(path, text)
        return path, []


def read_vectors(path: Path, fmt: str) -> np.ndarray:
    """One part's (rows, dim) float32 array from ``embeddings.npy`` or the ``embeddings.parquet`` folder."""
    if fmt == "npy":
        return np.load(path)
    import pyarrow.parquet as pq

    column = pq.read_table(path, columns=["embedding"]).column("embedding").combine_chunks()
    return column.flatten().to_numpy().reshape(len(column), column.type.list_size)


def read_embeddings(out: Path) -> tuple[np.ndarray, list[dict[str, str]]]:
    """All vectors of an embed output folder in corpus order, and its index rows (``row`` counted over
    the whole job). Sharded jobs are read once ``manifest.json`` exists. Loads everything into memory:
    for corpora larger than memory, read the parts one at a time (``np.load(..., mmap_mode="r")``)."""
    if (out / MANIFEST).is_file():
        manifest = _read_json(out / MANIFEST)
        fmt = manifest["format"]
        parts = [(out / part["folder"], part["first_row"]) for part in manifest["parts"]]
    elif (out / STATE).is_file():
        fmt, parts = _read_json(out / STATE).get("format", "npy"), [(out, 0)]
    else:
        raise UserError(f"{out}: no finished embed job (no {MANIFEST} or {STATE})")
    vectors, index = [], []
    for folder, first_row in parts:
        vectors.append(read_vectors(folder / FORMATS[fmt], fmt))
        with (folder / INDEX).open(newline="") as handle:
            index += [{**row, "row": str(first_row + int(row["row"]))} for row in csv.DictReader(handle)]
    return np.concatenate(vectors), index
