"""Append rows to a ``.npy`` file on disk without holding them in memory.

The header has a fixed size (128 bytes, NPY format 1.0) and is rewritten with the current row count
after every append, so the file is always a valid array that ``numpy.load(..., mmap_mode="r")`` reads.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from sslcli.run_dir import disk_full_guard

HEADER_BYTES = 128
MAGIC = b"\x93NUMPY\x01\x00"


def npy_header(rows: int, dim: int) -> bytes:
    text = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dim}), }}"
    body_len = HEADER_BYTES - len(MAGIC) - 2
    return MAGIC + struct.pack("<H", body_len) + text.ljust(body_len - 1).encode("latin1") + b"\n"


class MissingRows(ValueError):
    """Reopening for ``rows`` rows found a file holding fewer (removed or cut short by hand)."""


class NpyRowWriter:
    """float32 rows of width ``dim``; opening with ``rows`` > 0 keeps that many and drops any tail
    (a file holding fewer raises ``MissingRows`` rather than growing zero rows)."""

    def __init__(self, path: Path, dim: int, rows: int = 0):
        if rows:
            held = (path.stat().st_size - HEADER_BYTES) // (4 * dim) if path.is_file() else 0
            if held < rows:
                raise MissingRows(f"{path.name} holds {max(held, 0)} of the {rows} rows embedded before")
        self.path, self.dim, self.rows = path, dim, rows
        self.handle = path.open("r+b" if rows and path.exists() else "w+b", buffering=0)
        self.handle.truncate(HEADER_BYTES + rows * dim * 4)
        self._write_header()
        self.handle.seek(0, os.SEEK_END)

    def _write_header(self) -> None:
        self.handle.seek(0)
        self._write_all(npy_header(self.rows, self.dim))

    def append(self, block: np.ndarray) -> None:
        """Add ``block`` (b, dim) and make the header and data durable before returning."""
        if block.ndim != 2 or block.shape[1] != self.dim:
            raise ValueError(f"expected rows of width {self.dim}, got shape {block.shape}")
        with disk_full_guard(self.path):
            try:
                self.handle.seek(0, os.SEEK_END)
                self._write_all(np.ascontiguousarray(block, dtype="<f4").tobytes())
            except OSError:  # keep the file a valid array of the rows written before
                self.handle.truncate(HEADER_BYTES + self.rows * self.dim * 4)
                raise
            self.rows += block.shape[0]
            self._write_header()
            os.fsync(self.handle.fileno())

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self.handle.write(view) :]

    def close(self) -> None:
        self.handle.close()
