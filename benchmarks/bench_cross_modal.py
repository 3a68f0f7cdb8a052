"""Benchmark the fused symmetric cross-modal InfoNCE (AVID, CLIP) against eager PyTorch and
torch.compile.

    python benchmarks/bench_cross_modal.py                 # N pairs in 1024 ... 65536, D 128 and 256, bf16
    python benchmarks/bench_cross_modal.py --m 16384 --d 512 --dtype fp32

M = N pairs. The ideal is 6 N^2 D FLOP for forward+backward (one N x N similarity matrix serves both
directions); the fused kernels execute 12 (each direction's forward, then one backward pass per
modality adding both directions' weights), printed from their tile counts, and never hold the
matrix. Lightly has no cross-modal InfoNCE. Timings need CUDA; see ``loss_bench``.
"""

from __future__ import annotations

import functools
import sys

import torch
from loss_bench import LossBench, compiled, main, random_inputs, under_autocast
from sslcli.kernels import cross_modal_info_nce, cross_modal_info_nce_reference

TEMPERATURE = 0.1


def inputs(m: int, d: int, dtype: torch.dtype) -> list[torch.Tensor]:
    return random_inputs(2, m, d, dtype)  # the two modalities' embeddings (N, D)


fused = functools.partial(cross_modal_info_nce, temperature=TEMPERATURE, gather_distributed=False)


def contenders() -> dict:
    eager = functools.partial(cross_modal_info_nce_reference, temperature=TEMPERATURE)
    found = {
        "sslcli fused": fused,
        "eager reference": eager,
        "torch.compile(reference)": compiled(eager),
    }
    found = {name: under_autocast(fn) if callable(fn) else fn for name, fn in found.items()}
    return found | {"Lightly": "no such loss in Lightly"}


BENCH = LossBench("cross-modal InfoNCE", inputs, fused, contenders, ideal=6)

if __name__ == "__main__":
    sys.exit(main((BENCH,), m_sizes=(1024, 4096, 16384, 65536), d_sizes=(128, 256)))
