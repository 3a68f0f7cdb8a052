"""Benchmark the fused InfoNCE of distinct queries and keys, both with gradients (CPC's case: van den
Oord et al., 2018), against eager PyTorch and torch.compile.

    python benchmarks/bench_info_nce.py                    # M = K in 1024 ... 65536, D 128 and 256, bf16
    python benchmarks/bench_info_nce.py --m 16384 --d 512 --dtype fp32

The ideal is 6 M^2 D FLOP for forward+backward (one M x M similarity matrix); the fused kernels
recompute it in each of their three passes (forward, the queries' and the keys' gradients: 10 M^2 D,
printed from their tile counts) and never hold it. Lightly has no one-directional InfoNCE of distinct
queries and keys (its NTXentLoss is the symmetric SimCLR loss). Timings need CUDA; see ``loss_bench``.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from loss_bench import LossBench, compiled, main, random_inputs, under_autocast
from sslcli.kernels import info_nce

TEMPERATURE = 0.1


def inputs(m: int, d: int, dtype: torch.dtype) -> list[torch.Tensor]:
    return random_inputs(2, m, d, dtype)  # queries, keys (M, D)


def eager(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """InfoNCE as plain PyTorch writes it: normalise, one matmul, cross-entropy with the diagonal."""
    logits = F.normalize(queries, dim=1) @ F.normalize(keys, dim=1).T / TEMPERATURE  # (M, M)
    return F.cross_entropy(logits, torch.arange(len(queries), device=queries.device))


def fused(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    return info_nce(queries, keys, torch.arange(len(queries), device=queries.device), TEMPERATURE)


def contenders() -> dict:
    found = {"sslcli fused": fused, "eager": eager, "torch.compile(eager)": compiled(eager)}
    found = {name: under_autocast(fn) if callable(fn) else fn for name, fn in found.items()}
    return found | {"Lightly": "no such loss in Lightly"}


BENCH = LossBench("InfoNCE (queries, keys)", inputs, contenders, ideal=6, count_case="info_nce")

if __name__ == "__main__":
    sys.exit(main(BENCH, m_sizes=(1024, 4096, 16384, 65536), d_sizes=(128, 256)))
