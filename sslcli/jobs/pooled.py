"""Per-file embeddings of a corpus of long recordings: the mean of each file's segment rows.

Run once an unsharded embed is complete, when its items are stretches of recordings (``Item.span``;
``start_s`` set in ``index.csv``). A file's segments are consecutive rows (items are sorted by path,
then start), so one streaming pass over the rows writes ``OUT/pooled.npy`` (files x D float32) and
``OUT/pooled_index.csv`` (``row,path,label,segments,start_s,end_s``), each atomically.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from sslcli.jobs import embed_layout as layout
from sslcli.jobs.npy_stream import NpyRowWriter
from sslcli.run_dir import atomic_write

POOLED = "pooled.npy"
POOLED_INDEX = "pooled_index.csv"
POOLED_COLUMNS = ("row", "path", "label", "segments", "start_s", "end_s")
CHUNK_ROWS = 4096


def vector_chunks(folder: Path, fmt: str) -> Iterator[np.ndarray]:
    """The embedding rows in order, ``CHUNK_ROWS`` at a time (memory flat in N)."""
    if fmt == "npy":
        vectors = np.load(folder / layout.NPY, mmap_mode="r")  # (N, D)
        for start in range(0, len(vectors), CHUNK_ROWS):
            yield np.asarray(vectors[start : start + CHUNK_ROWS])
        return
    for path in sorted((folder / layout.PARQUET).glob("*.parquet")):  # files are numbered in row order
        for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS, columns=["embedding"]):
            column = batch.column(0)  # fixed_size_list<float32>[D]
            yield column.values.to_numpy(zero_copy_only=False).reshape(len(column), column.type.list_size)


def file_means(folder: Path, fmt: str) -> Iterator[tuple[list, np.ndarray]]:
    """(pooled index record, mean vector (D,)) per file, streaming the index and the rows together."""
    vectors = (row for chunk in vector_chunks(folder, fmt) for row in chunk)
    with (folder / layout.INDEX).open(newline="") as handle:
        groups = itertools.groupby(csv.DictReader(handle), key=lambda row: row["path"])
        for number, (path, group) in enumerate(groups):
            rows = list(group)
            block = np.stack([next(vectors) for _ in rows])  # (segments, D)
            record = [number, path, rows[0]["label"], len(rows), rows[0]["start_s"], rows[-1]["end_s"]]
            yield record, block.mean(axis=0, dtype=np.float64).astype(np.float32)


def write_pooled(folder: Path, fmt: str, dim: int) -> int:
    """Write the per-file means of ``folder``'s rows (width ``dim``); returns how many files."""
    records: list[list] = []  # one short record per file; the vectors stream to disk

    def write_vectors(tmp: str) -> None:
        writer, means = NpyRowWriter(Path(tmp), dim), file_means(folder, fmt)
        while batch := list(itertools.islice(means, CHUNK_ROWS)):
            records.extend(record for record, _ in batch)
            writer.append(np.stack([mean for _, mean in batch]))
        writer.close()

    atomic_write(folder / POOLED, write_vectors)
    atomic_write(folder / POOLED_INDEX, lambda tmp: write_csv(tmp, records))
    return len(records)


def write_csv(path: str, rows: list[list]) -> None:
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([list(POOLED_COLUMNS), *rows])
