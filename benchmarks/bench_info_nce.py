"""Benchmark the fused InfoNCE of distinct queries and keys against eager PyTorch, torch.compile and,
for MoCo's queue, Lightly.

    python benchmarks/bench_info_nce.py                    # M in 1024 ... 65536, D 128 and 256, bf16
    python benchmarks/bench_info_nce.py --m 16384 --d 512 --dtype fp32

Two losses. CPC's (van den Oord et al., 2018): queries and keys (M, D), both with gradients, each
query's positive its own key; the ideal is 6 M^2 D FLOP forward+backward (one M x M similarity
matrix), the fused kernels recompute it in each of their three passes (forward, the queries' and the
keys' gradients: 10 M^2 D) and never hold it; Lightly has no such loss (its NTXentLoss is the
symmetric SimCLR loss). MoCo v2's (He et al., 2020): queries (M, D) against their momentum keys
(detached) and a queue of 65536 negatives; the ideal is 4 M (M + Q) D (forward, queries' gradient),
the fused kernels execute 6 (the backward recomputes the logits); Lightly's NTXentLoss with a memory
bank computes the same loss. The executed counts are printed from the kernels' tile products.
Timings need CUDA; see ``loss_bench``.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from loss_bench import DRY, LossBench, compiled, main, random_inputs, under_autocast
from sslcli.kernels import info_nce

TEMPERATURE = 0.1
QUEUE = 1024 if DRY else 65536  # MoCo's default queue; a dry run's interpreter counts a short one


def inputs(m: int, d: int, dtype: torch.dtype) -> list[torch.Tensor]:
    return random_inputs(2, m, d, dtype)  # queries, keys (M, D)


def diagonal(queries: torch.Tensor) -> torch.Tensor:
    return torch.arange(len(queries), device=queries.device)


def eager(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """InfoNCE as plain PyTorch writes it: normalise, one matmul, cross-entropy with the diagonal."""
    logits = F.normalize(queries, dim=1) @ F.normalize(keys, dim=1).T / TEMPERATURE  # (M, M)
    return F.cross_entropy(logits, diagonal(queries))


def fused(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    return info_nce(queries, keys, diagonal(queries), TEMPERATURE)


def contenders() -> dict:
    found = {"sslcli fused": fused, "eager": eager, "torch.compile(eager)": compiled(eager)}
    found = {name: under_autocast(fn) if callable(fn) else fn for name, fn in found.items()}
    return found | {"Lightly": "no such loss in Lightly"}


def queue_inputs(m: int, d: int, dtype: torch.dtype) -> list[torch.Tensor]:
    queries, keys = random_inputs(2, m, d, dtype)
    (queue,) = random_inputs(1, QUEUE, d, dtype)
    return [queries, keys, F.normalize(queue.detach(), dim=1)]  # the queue holds normalised keys


def eager_moco(queries: torch.Tensor, keys: torch.Tensor, queue: torch.Tensor) -> torch.Tensor:
    """MoCo's Algorithm 1: logits [q . k+, q . queue] / t, cross-entropy with label 0."""
    q, k = F.normalize(queries, dim=1), F.normalize(keys.detach(), dim=1)
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], dim=1) / TEMPERATURE  # (M, 1 + Q)
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.int64, device=q.device))


def fused_moco(queries: torch.Tensor, keys: torch.Tensor, queue: torch.Tensor) -> torch.Tensor:
    positives = diagonal(queries)
    return info_nce(queries, keys.detach(), positives, TEMPERATURE, negatives=queue, batch_negatives=False)


def lightly_moco() -> object:
    """Lightly's NTXentLoss with a memory bank of QUEUE keys (its own, in place of ``queue``): a
    callable of (queries, keys, queue), or why there is none."""
    try:
        from lightly.loss import NTXentLoss
    except ImportError:
        return "not installed"
    by_width = {}

    def run(queries: torch.Tensor, keys: torch.Tensor, queue: torch.Tensor) -> torch.Tensor:
        d = queries.shape[1]
        if d not in by_width:
            by_width[d] = NTXentLoss(TEMPERATURE, memory_bank_size=(QUEUE, d)).to(queries.device)
        return by_width[d](queries, keys.detach())

    return run


def queue_contenders() -> dict:
    found = {
        "sslcli fused": fused_moco,
        "eager": eager_moco,
        "torch.compile(eager)": compiled(eager_moco),
        "Lightly NTXentLoss(memory_bank_size)": lightly_moco(),
    }
    return {name: under_autocast(fn) if callable(fn) else fn for name, fn in found.items()}


BENCH = LossBench("InfoNCE (queries, keys)", inputs, fused, contenders, ideal=6)
QUEUE_BENCH = LossBench(
    f"MoCo InfoNCE (queue {QUEUE})", queue_inputs, fused_moco, queue_contenders, ideal=4,
    unit=lambda m, d: m * (m + QUEUE) * d, unit_name="M (M + Q) D",
)  # fmt: skip

if __name__ == "__main__":
    sys.exit(main((BENCH, QUEUE_BENCH), m_sizes=(1024, 4096, 16384, 65536), d_sizes=(128, 256)))
