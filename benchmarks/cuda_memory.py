"""Peak CUDA memory of one call, shared by the benchmark scripts."""

from __future__ import annotations

from collections.abc import Callable

import torch


def peak_mib(fn: Callable[[], object], device: str = "cuda") -> float:
    """Memory ``fn`` allocates at its peak above what was allocated before it (MiB); NaN off CUDA."""
    if torch.device(device).type != "cuda":
        return float("nan")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20
