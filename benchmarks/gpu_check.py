"""One run on a CUDA machine: the kernels' correctness checks, then the benchmark sweep that matters.

    python benchmarks/gpu_check.py          # on a GPU: checks + sweep, one markdown report (< 8 min)
    DRY=1 python benchmarks/gpu_check.py    # on the CPU at toy sizes, kernels in Triton's interpreter

Checks (each against a float64 reference): the fused InfoNCE / NT-Xent loss and gradients in bf16,
fp16 and fp32; the half-precision gradient as P_pos -> 1 beside eager autocast's; bitwise determinism
of the backward; MoCo's queue loss. Sweep: NT-Xent forward+backward at M in {1024, 4096, 16384,
65536}, D=128, bf16, against the reference under the trainer's bf16 autocast, ``torch.compile`` of it
and Lightly's ``NTXentLoss`` (when installed), with time, TFLOP/s (6 M^2 D), % of the dense bf16 peak
and peak memory; MAE masking at B=256, 224 px, ratio 0.75 and VideoMAE tube masking against MAE's
argsort + gather. Prints markdown; never asserts. Record the output in BENCHMARKS.md.
"""

from __future__ import annotations

import datetime
import functools
import os
import sys
import time
from collections.abc import Callable

DRY = os.environ.get("DRY") == "1"
if DRY:
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before Triton is imported
    os.environ.setdefault("SSLCLI_KERNELS", "triton")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from cuda_memory import peak_mib  # noqa: E402
from sslcli.kernels import (  # noqa: E402
    info_nce,
    info_nce_reference,
    mae_random_masking,
    mae_random_masking_reference,
    nt_xent,
    nt_xent_reference,
)

DEVICE = "cpu" if DRY else "cuda"
SWEEP_M = (32, 64) if DRY else (1024, 4096, 16384, 65536)
D = 16 if DRY else 128
CHECK_M, CHECK_D = (64, 32) if DRY else (4096, 128)
MAE_BATCH, MAE_SIZE = (2, 32) if DRY else (256, 224)
TEMPERATURE = 0.1
BF16_PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0}  # dense datasheet figures


def relative(got: torch.Tensor, want: torch.Tensor) -> float:
    return ((got.double().cpu() - want.cpu()).norm() / want.norm().clamp_min(1e-300)).item()


def loss_and_grads(fn: Callable, *inputs: torch.Tensor) -> list[torch.Tensor]:
    leaves = [x.detach().clone().requires_grad_() for x in inputs]
    loss = fn(*leaves)
    return [loss.detach(), *torch.autograd.grad(loss, leaves)]


def flat_grads(loss_then_grads: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([grad.flatten() for grad in loss_then_grads[1:]])


def check_rows() -> list[tuple[str, str]]:
    """(check, result) of every correctness check."""
    rows = []
    g = torch.Generator().manual_seed(0)
    z_a, z_b = (torch.randn(CHECK_M // 2, CHECK_D, generator=g) for _ in range(2))
    oracle = loss_and_grads(lambda a, b: nt_xent_reference(a, b, TEMPERATURE), z_a.double(), z_b.double())
    for dtype in (torch.bfloat16, torch.float16, torch.float32):
        inputs = (z_a.to(DEVICE, dtype), z_b.to(DEVICE, dtype))
        fused = loss_and_grads(lambda a, b: nt_xent(a, b, TEMPERATURE), *inputs)
        errors = ", ".join(f"{relative(x, y):.1e}" for x, y in zip(fused, oracle, strict=True))
        rows.append((f"NT-Xent {str(dtype)[6:]} M={CHECK_M}: rel. error loss, dz_a, dz_b", errors))
    keys = torch.randn(CHECK_M // 2, CHECK_D, generator=g)
    queries = keys + 0.5 * torch.randn(CHECK_M // 2, CHECK_D, generator=g)  # P_pos >= 0.999 at t = 0.05
    queue = torch.randn(CHECK_M, CHECK_D, generator=g)
    positives = torch.arange(CHECK_M // 2)
    for dtype in (torch.bfloat16, torch.float16):
        q, k, n = (x.to(dtype) for x in (queries, keys, queue))

        def loss(fn, q_, k_, n_=n, p=positives):
            return fn(q_, k_, p.to(q_.device), 0.05, negatives=n_.to(q_.device, q_.dtype))

        exact = flat_grads(
            loss_and_grads(functools.partial(loss, info_nce_reference, n_=n.double()), q.double(), k.double())
        )
        fused = flat_grads(loss_and_grads(functools.partial(loss, info_nce), q.to(DEVICE), k.to(DEVICE)))
        with torch.autocast(DEVICE, dtype=dtype):
            eager = flat_grads(
                loss_and_grads(
                    functools.partial(loss, info_nce_reference, n_=n.float()), q.float(), k.float()
                )
            )
        label = f"InfoNCE {str(dtype)[6:]} P_pos >= 0.999: grad rel. error fused / eager autocast"
        rows.append((label, f"{relative(fused, exact):.3f} / {relative(eager, exact):.3f}"))
    inputs = (z_a.to(DEVICE, torch.bfloat16), z_b.to(DEVICE, torch.bfloat16))
    first, second = (loss_and_grads(lambda a, b: nt_xent(a, b, TEMPERATURE), *inputs) for _ in range(2))
    same = all(torch.equal(x, y) for x, y in zip(first, second, strict=True))
    rows.append(("NT-Xent bf16 backward bitwise deterministic", str(same)))
    q, k = F.normalize(queries[:8], dim=1), F.normalize(keys[:8], dim=1)
    bank = F.normalize(queue, dim=1)
    moco = info_nce(q.to(DEVICE), k.to(DEVICE), positives[:8].to(DEVICE), 0.2, negatives=bank.to(DEVICE),
                    batch_negatives=False, normalize=False)  # fmt: skip
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ bank.T], dim=1) / 0.2
    eager = F.cross_entropy(logits, torch.zeros(8, dtype=torch.int64))
    rows.append(("MoCo queue loss: abs(fused - Algorithm 1), fp32", f"{abs(moco.item() - eager.item()):.1e}"))
    return rows


def timed(fn: Callable[[], object]) -> float:
    """Median milliseconds (``triton.testing.do_bench`` on CUDA; a few wall-clock runs when DRY)."""
    fn()  # compile, autotune
    if not DRY:
        from triton.testing import do_bench

        return do_bench(fn, return_mode="median")
    start = time.perf_counter()
    for _ in range(3):
        fn()
    return (time.perf_counter() - start) / 3 * 1e3


def contenders() -> dict[str, Callable | None]:
    """Forward+backward implementations of NT-Xent on (z_a, z_b), all under the trainer's autocast."""
    reference = functools.partial(nt_xent_reference, temperature=TEMPERATURE, gather_distributed=False)
    found: dict[str, Callable | None] = {
        "sslcli fused": functools.partial(nt_xent, temperature=TEMPERATURE, gather_distributed=False),
        "eager reference": reference,
        "torch.compile(reference)": None if DRY else torch.compile(reference, dynamic=False),
        "Lightly NTXentLoss": None,
    }
    try:
        from lightly.loss import NTXentLoss
    except ImportError:
        return found
    found["Lightly NTXentLoss"] = NTXentLoss(temperature=TEMPERATURE, gather_distributed=False)
    return found


def sweep_rows() -> list[tuple]:
    """(M, implementation, fwd+bwd ms, TFLOP/s, % of peak, peak MiB, x Lightly) per M."""
    name = "cpu" if DRY else torch.cuda.get_device_name()
    peak = next((tflops for key, tflops in BF16_PEAK_TFLOPS.items() if key in name), None)
    rows = []
    for m in SWEEP_M:
        g = torch.Generator(device=DEVICE).manual_seed(0)
        z_a, z_b = (
            torch.randn(m // 2, D, device=DEVICE, dtype=torch.bfloat16, generator=g, requires_grad=True)
            for _ in range(2)
        )  # (N, D) each
        results = {}
        for label, loss_fn in contenders().items():
            if loss_fn is None:
                continue

            def step(loss_fn=loss_fn, z_a=z_a, z_b=z_b) -> None:
                with torch.autocast(DEVICE, dtype=torch.bfloat16):
                    loss = loss_fn(z_a, z_b)
                loss.backward()
                z_a.grad = z_b.grad = None

            try:
                results[label] = (timed(step), peak_mib(step, DEVICE))
            except torch.OutOfMemoryError:
                results[label] = None
        lightly = results.get("Lightly NTXentLoss")
        for label, result in results.items():
            if result is None:
                rows.append((m, label, "OOM", "", "", "", ""))
                continue
            ms, mib = result
            tflops = 6 * m * m * D / ms / 1e9
            share = f"{100 * tflops / peak:.0f}%" if peak else "n/a"
            speedup = f"{lightly[0] / ms:.2f}" if lightly else ""
            rows.append((m, label, f"{ms:.3f}", f"{tflops:.1f}", share, f"{mib:.0f}", speedup))
    return rows


def masking_rows() -> list[tuple[str, str, str]]:
    """(case, fused µs, argsort + gather µs) for MAE masking and VideoMAE tube masking."""
    images = torch.randn(MAE_BATCH, 3, MAE_SIZE, MAE_SIZE, device=DEVICE, dtype=torch.bfloat16)
    clips = torch.randn(MAE_BATCH // 8 or 1, 16, 3, MAE_SIZE, MAE_SIZE, device=DEVICE, dtype=torch.bfloat16)
    cases = {
        f"MAE B={MAE_BATCH} {MAE_SIZE}px ratio 0.75": (images, 0.75, 1),
        f"VideoMAE B={len(clips)} 16x{MAE_SIZE}px tubelet 2 ratio 0.9": (clips, 0.9, 2),
    }
    rows = []
    for case, (x, ratio, tubelet) in cases.items():
        fused = timed(lambda x=x, r=ratio, t=tubelet: mae_random_masking(x, r, 16, tubelet=t, seed=0))
        reference = timed(
            lambda x=x, r=ratio, t=tubelet: mae_random_masking_reference(x, r, 16, tubelet=t, seed=0)
        )
        rows.append((case, f"{1e3 * fused:.1f}", f"{1e3 * reference:.1f}"))
    return rows


def markdown(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)])


def main() -> int:
    if not DRY and not torch.cuda.is_available():
        print("no CUDA device: nothing to time (DRY=1 runs the checks at toy sizes on the CPU)")
        return 0
    device = "CPU dry run (Triton interpreter, toy sizes)" if DRY else torch.cuda.get_device_name()
    started = time.perf_counter()
    print(f"# gpu_check: {device}, torch {torch.__version__}, {datetime.date.today()}\n")
    print(markdown(("check", "result"), check_rows()) + "\n")
    print(f"NT-Xent forward+backward, D={D}, bf16 inputs under bf16 autocast\n")
    print(
        markdown(("M", "implementation", "ms", "TFLOP/s", "% peak", "peak MiB", "x Lightly"), sweep_rows())
        + "\n"
    )
    print(markdown(("masking", "fused µs", "argsort + gather µs"), masking_rows()) + "\n")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
