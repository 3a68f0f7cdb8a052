"""Odd filesystem entries for tests: a FIFO that reports whether anyone opened it, and a PNG bomb."""

from __future__ import annotations

import os
import struct
import threading
import zlib
from pathlib import Path


class FifoWatch:
    """A FIFO plus a thread waiting to open it for writing, which only returns once someone opens it for
    reading: ``close()`` says whether anyone did, and always releases the thread (so nothing hangs)."""

    def __init__(self, path: Path):
        os.mkfifo(path)
        self.path, self.opened, self.done = path, False, False
        self.thread = threading.Thread(target=self._wait_for_reader, daemon=True)
        self.thread.start()

    def _wait_for_reader(self) -> None:
        with open(self.path, "wb"):  # blocks until a reader opens the FIFO
            self.opened = not self.done

    def close(self) -> bool:
        self.done = True
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)  # our own reader releases the writer
        self.thread.join()
        os.close(fd)
        return self.opened


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A 60-byte PNG whose header claims ``width`` x ``height`` 8-bit gray pixels (PNG spec, 11.2.2)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b""))
        + png_chunk(b"IEND", b"")
    )
