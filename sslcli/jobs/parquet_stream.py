"""Stream embedding rows into a folder of Parquet files without holding them in memory.

``FOLDER/embeddings.parquet/`` holds ``000000.parquet``, ``000001.parquet``, ... in row order, each with
the columns ``row`` (int64), ``item_id``, ``path``, ``label`` (strings, label null when unknown),
``start_s``, ``end_s`` (float64: the stretch of a recording a row embeds, null for whole files) and
``embedding`` (``fixed_size_list<float32>[dim]``). Rows are buffered into row groups of about
``ROW_GROUP_BYTES`` of vectors; a file is written under a hidden temp name (``.<name>.*.partial``) and
renamed into place once it holds about ``FILE_BYTES`` of vectors and is closed (footer written,
fsynced). So every visible file is complete: ``pyarrow.parquet.read_table(".../embeddings.parquet")``
reads the folder at any moment (readers skip hidden files), and a killed writer loses at most the
rows of the file it had open; ``committed_rows``/``files`` are what a resume cursor may record.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sslcli.run_dir import TEMP_SUFFIX, disk_full_guard, output_mode

FOLDER = "embeddings.parquet"
ROW_GROUP_BYTES = 8 << 20
FILE_BYTES = 32 << 20
_FILE_NAME = re.compile(r"(\d{6})\.parquet")

# row, item_id, path, label, start_s, end_s
Record = tuple[int, str, str, "str | None", "float | None", "float | None"]


def file_name(number: int) -> str:
    return f"{number:06d}.parquet"


def schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("row", pa.int64(), nullable=False),
            pa.field("item_id", pa.string(), nullable=False),
            pa.field("path", pa.string(), nullable=False),
            pa.field("label", pa.string()),
            pa.field("start_s", pa.float64()),
            pa.field("end_s", pa.float64()),
            pa.field("embedding", pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


def to_table(vectors: np.ndarray, records: list[Record], dim: int) -> pa.Table:
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    columns = list(zip(*records, strict=True)) if records else [()] * 6
    types = (pa.int64(), pa.string(), pa.string(), pa.string(), pa.float64(), pa.float64())
    return pa.table(
        [
            *(pa.array(column, kind) for column, kind in zip(columns, types, strict=True)),
            pa.FixedSizeListArray.from_arrays(flat, dim),
        ],
        schema=schema(dim),
    )


def visible_files(folder: Path) -> dict[int, Path]:
    """The closed data files under ``folder`` by number."""
    if not folder.is_dir():
        return {}
    found = (_FILE_NAME.fullmatch(p.name) for p in folder.iterdir())
    return {int(m.group(1)): folder / m.group(0) for m in found if m is not None}


class ResumeMismatch(ValueError):
    """The closed files do not hold the rows a saved cursor says they do (the part must start over)."""


class ParquetRowWriter:
    """Rows of width ``dim`` into ``folder``; opening with ``rows``/``files`` > 0 continues a job whose
    cursor recorded that many rows in that many closed files (later files, e.g. one closed just before
    a kill, are removed; closed files that disagree raise ``ResumeMismatch``)."""

    def __init__(self, folder: Path, dim: int, rows: int = 0, files: int = 0):
        self.folder, self.dim = folder, dim
        self.group_rows = max(1, ROW_GROUP_BYTES // (4 * dim))
        self.file_rows = max(self.group_rows, FILE_BYTES // (4 * dim))
        self._keep_first(files, rows)
        self.files, self.committed_rows = files, rows
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._in_file = 0  # rows in the open file, row groups written plus the buffer
        self._writer: pq.ParquetWriter | None = None
        self._handle = None
        self._tmp: Path | None = None

    def _keep_first(self, files: int, rows: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        found = visible_files(self.folder)
        for number, path in found.items():
            if number >= files:
                path.unlink()
        kept = [found.get(number) for number in range(files)]
        try:
            counts = [pq.ParquetFile(path).metadata.num_rows for path in kept if path is not None]
        except (OSError, pa.ArrowException) as err:
            raise ResumeMismatch(f"unreadable data file ({type(err).__name__})") from None
        if None in kept or sum(counts) != rows:
            raise ResumeMismatch(f"{len(counts)} of {files} files with {sum(counts)} of {rows} rows")

    @property
    def rows(self) -> int:
        return self.committed_rows + self._in_file

    @property
    def settled(self) -> bool:
        """Every row appended so far is in a closed file (a cursor saved now is exact)."""
        return self._in_file == 0

    @property
    def current_path(self) -> Path:
        return self.folder / file_name(self.files)

    def append(self, vectors: np.ndarray, records: list[Record]) -> None:
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(records) != vectors.shape[0]:
            raise ValueError(f"expected {len(records)} rows of width {self.dim}, got shape {vectors.shape}")
        self._buffer.append(to_table(vectors, records, self.dim))
        self._buffered += len(records)
        self._in_file += len(records)
        if self._buffered >= self.group_rows:
            self._write_group()
        if self._in_file >= self.file_rows:
            self._close_file()

    def close(self) -> None:
        """Close the open file (and write an empty one if the part holds no rows, so it reads)."""
        if self._in_file or self.files == 0:
            self._close_file()

    def abandon(self) -> None:
        """Drop the open file (after an error); the closed files stay as they are."""
        with contextlib.suppress(Exception):
            if self._writer is not None:
                self._writer.close()
        with contextlib.suppress(Exception):
            if self._handle is not None:
                self._handle.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
        self._writer = self._handle = self._tmp = None
        self._buffer, self._buffered, self._in_file = [], 0, 0

    def _open_file(self) -> None:
        with disk_full_guard(self.current_path):
            fd, tmp = tempfile.mkstemp(
                prefix=f".{self.current_path.name}.", suffix=TEMP_SUFFIX, dir=self.folder
            )
            self._tmp = Path(tmp)
            self._handle = os.fdopen(fd, "wb")
            # ids, paths and vectors are (nearly) unique: a dictionary would only cost time
            self._writer = pq.ParquetWriter(self._handle, schema(self.dim), use_dictionary=["label"])

    def _write_group(self) -> None:
        if self._writer is None:
            self._open_file()
        if self._buffered:
            with self._guard():
                self._writer.write_table(pa.concat_tables(self._buffer), row_group_size=self._buffered)
        self._buffer, self._buffered = [], 0

    def _close_file(self) -> None:
        self._write_group()
        final = self.current_path
        with self._guard():
            self._writer.close()
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            os.chmod(self._tmp, output_mode())
            os.replace(self._tmp, final)
        _fsync_folder(self.folder)
        self._writer = self._handle = self._tmp = None
        self.files += 1
        self.committed_rows += self._in_file
        self._in_file = 0

    @contextlib.contextmanager
    def _guard(self):
        try:
            with disk_full_guard(self.current_path):
                yield
        except BaseException:
            self.abandon()
            raise


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
