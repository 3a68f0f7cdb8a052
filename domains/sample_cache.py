"""Where built-in samples are written on first use, and how: staged, then renamed into place."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def cache_root() -> Path:
    """``$SSLCLI_CACHE``, else ``$XDG_CACHE_HOME/sslcli``, else ``~/.cache/sslcli``."""
    if os.environ.get("SSLCLI_CACHE"):
        return Path(os.environ["SSLCLI_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sslcli"


def materialise(version: str, write: Callable[[Path], None]) -> tuple[Path, Path]:
    """(train, test) folders of the sample ``version``; ``write(staging)`` creates both under a
    temporary folder the first time, which is then renamed into place (a killed or concurrent first
    use never leaves a half-written sample behind)."""
    target = cache_root() / version
    if not (target / "train").is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
        try:
            write(staging)
            staging.rename(target)
        except OSError:
            if not (target / "train").is_dir():  # not another process materialising it first
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target / "train", target / "test"
