"""CPU intra-op threads: a float reduction's result depends on how many threads split it, so a run's
numbers reproduce only at the thread count it used (``PretrainConfig.threads``, recorded in
config.json). Jobs set the count for their duration and give the caller's back afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def restored_thread_count() -> Iterator[None]:
    """Whatever the block sets with ``torch.set_num_threads``, the caller's count afterwards."""
    before = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(before)
