"""Benchmark the fused NT-Xent (SimCLR) against eager PyTorch, torch.compile and Lightly.

    python benchmarks/bench_ntxent.py                      # M 1024 ... 65536, D 128 and 256, bf16
    python benchmarks/bench_ntxent.py --m 262144 --d 128 --dtype bf16 fp32

M = 2N rows (both views). The ideal is 6 M^2 D FLOP for forward+backward (one M x M similarity
matrix: 2 forward, 4 backward); the fused kernels execute 6 (one backward pass serves both roles of
every row), printed from their tile counts. Timings need CUDA; see ``loss_bench`` for what is measured.
"""

from __future__ import annotations

import functools
import sys

import torch
from loss_bench import LossBench, compiled, main, random_inputs, under_autocast
from sslcli.kernels.ntxent import nt_xent, nt_xent_reference

TEMPERATURE = 0.1


def inputs(m: int, d: int, dtype: torch.dtype) -> list[torch.Tensor]:
    return random_inputs(2, m // 2, d, dtype)  # z_a, z_b (N, D)


fused = functools.partial(nt_xent, temperature=TEMPERATURE, gather_distributed=False)


def contenders() -> dict:
    reference = functools.partial(nt_xent_reference, temperature=TEMPERATURE, gather_distributed=False)
    found = {
        "sslcli fused": fused,
        "eager reference": reference,
        "torch.compile(reference)": compiled(reference),
    }
    try:
        from lightly.loss import NTXentLoss

        found["Lightly NTXentLoss"] = NTXentLoss(temperature=TEMPERATURE, gather_distributed=False)
    except ImportError:
        found["Lightly NTXentLoss"] = "not installed"
    return {name: under_autocast(fn) if callable(fn) else fn for name, fn in found.items()}


BENCH = LossBench("NT-Xent", inputs, fused, contenders, ideal=6)

if __name__ == "__main__":
    sys.exit(main((BENCH,), m_sizes=(1024, 4096, 16384, 65536), d_sizes=(128, 256)))
