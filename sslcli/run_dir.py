"""The files of a run directory (or an embed output folder): their names, atomic writes, disk-full
errors that name the file, leftover temp files, and the exclusive lock that keeps two processes out.

A folder is in one of four states (``folder_state``): ``new`` (absent, or holding nothing but the
lock and temp files), ``partial`` (a run that stopped before its first checkpoint: ``config.json``
without ``checkpoints/last.pt``; the same command starts it again), ``checkpointed`` (resumable with
``--resume``) or ``foreign`` (files that are not an sslcli run: refused, never overwritten).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from sslcli.errors import UserError

CONFIG = "config.json"
CHECKPOINT = "checkpoints/last.pt"
ENCODER = "encoder.safetensors"  # the selected weights (engine.selection), else the last
ENCODER_LAST = "encoder_last.safetensors"  # the last weights, beside a selected encoder
SELECTED = "checkpoints/selected.safetensors"  # the best weights so far by the --select criterion
METRICS = "metrics.csv"
SKIPPED = "skipped.csv"
PLOTS = "plots"
LOCK = ".sslcli.lock"
TEMP_SUFFIX = ".partial"  # atomic_write's temp folders: ".<name>.<random>.partial/"
SAFETENSORS_TEMP = re.compile(r"\.tmp[A-Za-z0-9]{6}")  # the tempfile crate's names (safetensors' writer)
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(UserError):
    """A write failed because the disk (or the user's quota) is full."""


@contextlib.contextmanager
def disk_full_guard(path: Path) -> Iterator[None]:
    """Turn ENOSPC/EDQUOT while writing ``path`` into one line that names it."""
    try:
        yield
    except OSError as err:
        if err.errno not in DISK_FULL:
            raise
        raise DiskFullError(
            f"{path}: the disk is full ({os.strerror(err.errno)}); free some space and run the same "
            "command again (the last checkpoint and every finished file are intact)"
        ) from None


def output_mode() -> int:
    """Permission bits of a new output file: 0666 less the process umask (what ``open`` would give)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)`` then move the finished file over ``path`` in one step.

    ``tmp_path`` lies in a private temp folder (``.<name>.<random>.partial/``) beside ``path``, so a
    temp file the writer makes of its own (safetensors and others write through one) is inside it
    too. On any failure the folder is removed; a process killed mid-write leaves it, and
    ``clean_temp_files`` removes it at the next start.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with disk_full_guard(path):
        folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent))
        tmp = folder / path.name
        try:
            write(str(tmp))
            os.chmod(tmp, output_mode())  # writers may create the file 0600 or with their own mode
            os.replace(tmp, path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def write_text_atomic(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def clean_temp_files(folder: Path) -> list[Path]:
    """Remove what killed writes left under ``folder``: ``atomic_write``'s temp folders and files
    (``.*.partial``), and the ``.tmpXXXXXX`` files of safetensors' own writer, which sslcli versions
    before atomic_write's temp folders let it create beside the encoder. Returns what was removed."""
    if not folder.is_dir():
        return []
    hidden = list(folder.rglob(".*"))  # one walk; a removed folder's contents are not listed again
    leftovers = [p for p in hidden if p.name.endswith(TEMP_SUFFIX) and (p.is_file() or p.is_dir())]
    leftovers += [p for p in hidden if SAFETENSORS_TEMP.fullmatch(p.name) and p.is_file()]
    for path in leftovers:
        remove_leftover(path)
    return leftovers


def remove_leftover(path: Path) -> None:
    """Remove one temp file or temp folder (never following a link out of the run directory)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def folder_state(folder: Path) -> str:
    """``new``, ``partial``, ``checkpointed`` or ``foreign`` (see the module docstring)."""
    if not folder.exists():
        return "new"
    if not folder.is_dir():
        return "foreign"
    if (folder / CHECKPOINT).is_file() and (folder / CONFIG).is_file():
        return "checkpointed"
    if (folder / CONFIG).is_file():
        return "partial"
    others = [p for p in folder.iterdir() if p.name != LOCK and not p.name.endswith(TEMP_SUFFIX)]
    return "foreign" if others else "new"


def start_refusal(folder: Path, resuming: bool) -> str | None:
    """Why ``pretrain --out folder`` (with ``--resume`` when ``resuming``) cannot start there, or None."""
    state = folder_state(folder)
    if state == "foreign":
        return f"{folder}: holds files that are not an sslcli run; choose a new or empty --out"
    if resuming and state == "new":
        return f"{folder}: nothing to resume (no {CONFIG})"
    if not resuming and state == "checkpointed":
        return f"{folder}: already holds a run; pass --resume to continue it or choose another --out"
    return None


def holds_only_locks(folder: Path) -> bool:
    return folder.is_dir() and all(p.name.endswith(".lock") for p in folder.iterdir())


@contextlib.contextmanager
def exclusive(
    folder: Path, what: str, shared: bool = False, advice: str = "wait for it or choose another --out"
) -> Iterator[None]:
    """Hold a lock on ``folder`` (created if absent) for the duration of the block: exclusive, or with
    ``shared`` one of several holders (the processes of one sharded job) that together exclude an
    exclusive holder.

    A refused process gets one line naming the holder. The lock is the kernel's (``flock``), so a
    killed holder never leaves it stuck. A folder this call created and that still holds nothing but
    lock files afterwards is removed again, so a refused command leaves no trace.
    """
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"{folder}: exists and is not a directory") from None
    except OSError as err:
        raise UserError(f"{folder}: cannot create ({err.strerror})") from None
    handle = (folder / LOCK).open("a+")
    try:
        try:
            fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise UserError(f"{folder}: {what} is in use by {holder}; {advice}") from None
        if not shared:  # the holder's name, for the refusal above
            handle.seek(0)
            handle.truncate()
            handle.write(f"sslcli pid {os.getpid()} on {socket.gethostname()}\n")
            handle.flush()
        yield
    finally:
        handle.close()  # releases the lock
        if created and holds_only_locks(folder):
            for path in folder.iterdir():
                path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                folder.rmdir()
