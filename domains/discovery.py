"""How every domain finds its files and refuses the ones it cannot open: each entry is judged from
``os.stat`` / ``os.lstat`` alone (nothing is opened: opening a FIFO blocks until a writer appears), and
an item whose file is unusable raises its one-line reason before any decoder sees it."""

from __future__ import annotations

import errno
import functools
import os
import stat
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class BadItemError(Exception):
    """One input file could not be used; ``str(err)`` is the one-line reason."""


@dataclass(frozen=True)
class Item:
    """One unit of data: a file (or a frame of one) that ``Domain.load`` turns into a tensor.

    ``item_id`` is stable across runs and safe to write to disk; ``rel_path`` is the path relative
    to the data root (domains holding private data may replace it with an opaque id). ``problem``: why
    the file cannot be used, when discovery already knows (its load raises it before decoding).
    """

    item_id: str
    path: Path
    rel_path: str
    label: str | None = None
    problem: str | None = field(default=None, kw_only=True)

    def span(self) -> tuple[float, float] | None:
        """(start, end) in seconds where the item is a stretch of a longer recording, else None."""
        return None


# Why a directory entry cannot be read as a file, decided from os.lstat / os.stat alone (nothing is
# opened: opening a FIFO blocks until a writer appears).
LINK_LOOP = "symbolic link loop"
DANGLING_LINK = "dangling symbolic link"
DIRECTORY = "a directory, not an image file"  # the natural domain's reason for a folder named like a file
NOT_REGULAR = "not a regular file (FIFO, socket or device)"


def entry_problem(path: Path) -> str | None:
    """None if ``path`` (after following symbolic links) is a regular file or a directory, else the
    one-line reason, from ``os.stat`` / ``os.lstat`` alone."""
    try:
        mode = os.stat(path).st_mode  # follows links: a loop is ELOOP, a dangling link ENOENT
    except OSError as err:
        if err.errno == errno.ELOOP:
            return LINK_LOOP
        try:
            is_link = stat.S_ISLNK(os.lstat(path).st_mode)
        except OSError:
            is_link = False
        if is_link and err.errno in (errno.ENOENT, errno.ENOTDIR):
            return DANGLING_LINK
        return f"cannot access file ({err.strerror or type(err).__name__})"
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else NOT_REGULAR


def regular_file_problem(path: Path) -> str | None:
    """None if ``path`` (after following symbolic links) is a regular file, else the one-line reason."""
    return entry_problem(path) or (DIRECTORY if path.is_dir() else None)


@dataclass(frozen=True)
class Entry:
    """One entry found by ``discover_files``: a regular file, a folder (``folder``; links followed), or
    something no domain may open (``problem`` says why: a FIFO, a device, a broken link)."""

    path: Path
    rel: str
    folder: bool = False
    problem: str | None = None

    def item(self, folder_reason: str) -> Item:
        """This entry as one item whose load raises its problem (``folder_reason`` for a folder)."""
        problem = self.problem or (folder_reason if self.folder else None)
        return Item(self.rel, self.path, self.rel, problem=problem)


def _walk_entries(root: Path) -> list[Path]:
    """Every entry below ``root``, sorted: regular files, directories, symbolic links (dangling or
    looping too), FIFOs, sockets and devices. Linked directories are listed but not entered, so a
    link cycle cannot make the walk endless; unreadable sub-folders are passed over."""
    entries: list[Path] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        entries += [Path(folder, name) for name in (*dirs, *files)]
    return sorted(entries)


def discover_files(root: Path, suffixes: Collection[str] | None = None) -> list[Entry]:
    """How every domain finds its files: each entry below ``root`` whose name ends in one of
    ``suffixes`` (lower-case; None: every entry), sorted, with what ``os.stat`` says it is. A domain
    reads headers of regular files only and makes every other entry an item that says why
    (``Entry.item``): nothing is dropped silently, nothing that could block (a FIFO) is opened."""
    found = []
    for path in _walk_entries(root):
        if suffixes is None or path.suffix.lower() in suffixes:
            problem = entry_problem(path)
            folder = problem is None and path.is_dir()
            found.append(Entry(path, path.relative_to(root).as_posix(), folder, problem))
    return found


def refuse_unusable(item: Item) -> None:
    """Raise ``BadItemError`` with the problem ``item`` was discovered with, or with why its path is no
    longer a regular file or folder (a stat: nothing is opened). ``Domain.load`` calls it first."""
    problem = item.problem or entry_problem(item.path)
    if problem:
        raise BadItemError(problem)


def refusing_unusable(load: Callable[..., Any]) -> Callable[..., Any]:
    """``load`` (a domain's) preceded by ``refuse_unusable`` on its item."""

    @functools.wraps(load)
    def checked(domain: Any, item: Item, *args: Any, **kwargs: Any) -> Any:
        refuse_unusable(item)
        return load(domain, item, *args, **kwargs)

    return checked
