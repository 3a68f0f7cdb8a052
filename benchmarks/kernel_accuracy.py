"""The fused InfoNCE's accuracy where fp32 and fp16 lose digits, beside plain PyTorch's, against float64.

    python benchmarks/kernel_accuracy.py    # compiled on CUDA; elsewhere the kernels in Triton's interpreter

Two cases, the inputs of ``tests/kernels/test_info_nce_accuracy.py`` (which asserts the bounds):
fp32 as P_pos -> 1 (P_pos in [1 - 1.5e-6, 1 - 3e-7], M=64, D=128, t=0.05: the loss is a residual of
two logits of about 1/t), against eager fp32; and fp16 with a 4096-entry queue whose weights fall
mostly below fp16's smallest subnormal, against eager fp16 autocast. Prints relative errors (norm of
the difference over the norm of the float64 value) as a markdown table; asserts nothing.
"""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path

import torch

CUDA = torch.cuda.is_available()
if not CUDA:
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before a kernel is jitted
    os.environ.setdefault("SSLCLI_KERNELS", "triton")

import torch.nn.functional as F  # noqa: E402
from sslcli.kernels import info_nce, info_nce_reference  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "kernels"))
from test_info_nce_accuracy import flushing_queue_inputs, near_certain_inputs, relative_error  # noqa: E402

DEVICE = "cuda" if CUDA else "cpu"


def losses_and_grads(function, queries, keys, dtype, device, **options) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-query losses and the gradient in the queries and keys of sum_i w_i loss_i (w: 0.5 ... 1.5)."""
    q, k = (x.to(device, dtype).requires_grad_() for x in (queries, keys))
    losses = function(q, k, torch.arange(len(q), device=device), reduction="none", **options)
    weights = torch.linspace(0.5, 1.5, len(q), device=device)
    grads = torch.autograd.grad((losses * weights).sum(), (q, k))
    return losses.detach(), torch.cat([g.flatten() for g in grads])


def errors(got: tuple, oracle: tuple) -> list[str]:
    """Relative errors of the loss and of the gradient."""
    return [f"{relative_error(a, b):.1e}" for a, b in zip(got, oracle, strict=True)]


def fp32_rows() -> list[tuple[str, str, str]]:
    queries, keys, _, _ = near_certain_inputs(64, 128, 0.05)
    oracle = losses_and_grads(info_nce_reference, queries, keys, torch.float64, "cpu", temperature=0.05)
    rows = []
    for name, function in (("sslcli fused", info_nce), ("eager fp32", info_nce_reference)):
        got = losses_and_grads(function, queries, keys, torch.float32, DEVICE, temperature=0.05)
        rows.append((f"fp32, P_pos -> 1: {name}", *errors(got, oracle)))
    return rows


def fp16_rows() -> list[tuple[str, str, str]]:
    queries, keys, queue, positives = flushing_queue_inputs()

    def loss_and_grad(function, dtype, device, autocast=False):
        q = queries.to(device, dtype).requires_grad_()
        with torch.autocast(device, dtype=torch.float16, enabled=autocast):
            loss = function(
                q, keys.to(device, dtype), positives.to(device), 0.05, negatives=queue.to(device, dtype)
            )
        return loss.detach().reshape(1), torch.autograd.grad(loss, q)[0]

    def plain(q, k, positives, temperature, negatives):  # normalise, one matmul, cross-entropy
        candidates = F.normalize(torch.cat([k, negatives]), dim=1)
        return F.cross_entropy(F.normalize(q, dim=1) @ candidates.T / temperature, positives)

    oracle = loss_and_grad(info_nce_reference, torch.float64, "cpu")
    fused = loss_and_grad(info_nce, torch.float16, DEVICE)
    eager = loss_and_grad(plain, torch.float32, DEVICE, autocast=True)
    return [
        (f"fp16, 4096 queue: {name}", *errors(got, oracle))
        for name, got in (("sslcli fused", fused), ("eager fp16 autocast", eager))
    ]


def main() -> int:
    device = torch.cuda.get_device_name() if CUDA else "CPU (Triton interpreter)"
    threads = torch.get_num_threads()
    print(f"{device} | torch {torch.__version__} | {threads} threads | {datetime.date.today()}\n")
    print("| case | loss rel. error | gradient rel. error |\n|---|---|---|")
    for row in fp32_rows() + fp16_rows():
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
