"""The command line of the set writers (``image_sets.py``, ``audio_sets.py``): NAME OUT."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def write_named_set(writers: dict[str, Callable[[Path], None]], description: str) -> None:
    """Parse ``NAME OUT`` and write the set ``NAME`` as ``OUT/{train,test}/<class>/`` files."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("name", choices=sorted(writers))
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    writers[args.name](args.out)
    print(f"wrote {args.name} to {args.out}/{{train,test}}/<class>/")
