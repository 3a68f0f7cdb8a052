"""One run on a CUDA machine: the kernels' correctness checks, then the benchmark sweep that matters.

    python benchmarks/gpu_check.py          # on a GPU: checks + sweep, one markdown report (< 8 min)
    DRY=1 python benchmarks/gpu_check.py    # on the CPU at toy sizes, kernels in Triton's interpreter

Checks (each against a float64 reference, every kernel pinned to its first config by ``first_configs``:
no autotuning there): the fused InfoNCE / NT-Xent loss and gradients in bf16, fp16 and fp32; the half-
precision gradient as P_pos -> 1 beside eager autocast's, both on the device under its autocast;
bitwise determinism of the backward; MoCo's queue loss; MAE masking, tube masking and the un-shuffle
equal to argsort + gather on the device. Sweep: NT-Xent forward+backward at M in {1024, 4096, 16384,
65536}, D=128, bf16, against the reference under the trainer's bf16 autocast, ``torch.compile`` of it
and Lightly's ``NTXentLoss`` (when installed), with time, TFLOP/s executed and ideal, % of the dense
bf16 peak and peak memory (``loss_bench.rows``); MAE masking at B=256, 224 px, ratio 0.75 and VideoMAE
tube masking against MAE's argsort + gather; then cross-modal InfoNCE, CPC's InfoNCE and MoCo's queue
loss at M = 16384 against their eager forms, torch.compile and Lightly (``loss_bench``), each with the
FLOP its kernels execute. A time guard skips (and names) what would run past ``BUDGET_S``; an out-of-
memory case is reported and its memory released. Peaks are looked up by the exact device name. Prints
markdown; never asserts. Record the output in BENCHMARKS.md.
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

import bench_cross_modal  # noqa: E402
import bench_info_nce  # noqa: E402
import loss_bench  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from bench_ntxent import BENCH as NT_XENT_BENCH  # noqa: E402
from loss_bench import executed_ratio  # noqa: E402
from sslcli.kernels import (  # noqa: E402
    first_configs,
    info_nce,
    info_nce_reference,
    mae_random_masking,
    mae_random_masking_reference,
    mae_unshuffle,
    mae_unshuffle_reference,
    nt_xent,
    nt_xent_reference,
)

DEVICE = "cpu" if DRY else "cuda"
SWEEP_M = (32, 64) if DRY else (1024, 4096, 16384, 65536)
D = 16 if DRY else 128
CHECK_M, CHECK_D = (64, 32) if DRY else (4096, 128)
MAE_BATCH, MAE_SIZE = (2, 32) if DRY else (256, 224)
TEMPERATURE = 0.1
BUDGET_S = 420.0  # the device lease's window less the start: what runs past it is skipped
OTHER_M = 64 if DRY else 16384
OTHER_LOSSES = [(bench_cross_modal.BENCH, 0), (bench_info_nce.BENCH, 0), (bench_info_nce.QUEUE_BENCH, 1)]
OTHER_LOSS_S = 0.0 if DRY else 90.0  # what one of them may take, torch.compile and autotuning included
STARTED = time.perf_counter()


def time_left() -> float:
    return BUDGET_S - (time.perf_counter() - STARTED)


def released() -> None:
    """After an out-of-memory error: hand the cached blocks back before the next case."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def relative(got: torch.Tensor, want: torch.Tensor) -> float:
    return ((got.double().cpu() - want.cpu()).norm() / want.norm().clamp_min(1e-300)).item()


def loss_and_grads(fn: Callable, *inputs: torch.Tensor) -> list[torch.Tensor]:
    leaves = [x.detach().clone().requires_grad_() for x in inputs]
    loss = fn(*leaves)
    return [loss.detach(), *torch.autograd.grad(loss, leaves)]


def flat_grads(loss_then_grads: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([grad.flatten() for grad in loss_then_grads[1:]])


def plain_info_nce(queries, keys, positives, temperature, negatives) -> torch.Tensor:
    """InfoNCE as plain PyTorch code writes it (Lightly's losses, e.g.): normalise, one matmul against
    the keys and the queue, cross-entropy. Under autocast the matmul, so the logits, are in half
    precision (sslcli's reference keeps fp32 logits and is no such baseline)."""
    candidates = F.normalize(torch.cat([keys, negatives]), dim=1)  # (K + Q, D)
    return F.cross_entropy(F.normalize(queries, dim=1) @ candidates.T / temperature, positives)


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
        with torch.autocast(DEVICE, dtype=dtype):  # on the device: its autocast, not the CPU's
            eager = flat_grads(
                loss_and_grads(
                    functools.partial(loss, plain_info_nce, n_=n.to(DEVICE, torch.float32)),
                    q.to(DEVICE, torch.float32),
                    k.to(DEVICE, torch.float32),
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
    return rows + masking_checks(g)


def masking_checks(g: torch.Generator) -> list[tuple[str, str]]:
    """MAE masking (images), tube masking (clips) and the un-shuffle against argsort + gather on the
    device, with the same noise: every output equal."""
    images = torch.randn(MAE_BATCH, 3, MAE_SIZE, MAE_SIZE, generator=g).to(DEVICE, torch.bfloat16)
    clips = torch.randn(2, 4, 3, MAE_SIZE, MAE_SIZE, generator=g).to(DEVICE, torch.bfloat16)
    rows = []
    for case, x, ratio, tubelet in (("MAE", images, 0.75, 1), ("tube", clips, 0.9, 2)):
        length = (MAE_SIZE // 16) ** 2
        noise = torch.rand(len(x), length, generator=g).to(DEVICE)
        fused = mae_random_masking(x, ratio, 16, noise=noise, tubelet=tubelet)
        plain = mae_random_masking_reference(x, ratio, 16, noise=noise, tubelet=tubelet)
        same = all(torch.equal(a, b) for a, b in zip(fused, plain, strict=True))
        groups = x.shape[1] // tubelet if x.ndim == 5 else 1
        token = torch.randn(1, 1, 64, generator=g).to(DEVICE, torch.bfloat16)
        encoded = torch.randn(len(x), fused.visible.shape[1], 64, generator=g).to(DEVICE, torch.bfloat16)
        restored = mae_unshuffle(encoded, token, fused.ids_restore, time_steps=groups)
        same_restore = torch.equal(
            restored, mae_unshuffle_reference(encoded, token, fused.ids_restore, time_steps=groups)
        )
        rows.append((f"{case} masking / un-shuffle equal to argsort + gather", f"{same} / {same_restore}"))
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


def sweep_rows(executed: float) -> list[tuple]:
    """``loss_bench.rows`` of NT-Xent (bench_ntxent's contenders) at each M of SWEEP_M, M first; a size
    whose time, grown as M^2 from the last one, would pass the budget is skipped and named."""
    rows, last = [], None  # last: (M, seconds) of the previous size
    for m in SWEEP_M:
        if last is not None and last[1] * (m / last[0]) ** 2 > time_left():  # the cost grows as M^2
            rows.append((m, "skipped: would pass the time budget", *[""] * (len(loss_bench.COLUMNS) - 2)))
            continue
        started = time.perf_counter()
        rows += [(m, *row) for row in loss_bench.rows(NT_XENT_BENCH, m, D, torch.bfloat16, executed)]
        last = (m, time.perf_counter() - started)
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
    print(f"# gpu_check: {device}, torch {torch.__version__}, {datetime.date.today()}\n")
    with first_configs():
        print(markdown(("check", "result"), check_rows()) + "\n")
    executed = executed_ratio(NT_XENT_BENCH, D)
    print(f"NT-Xent forward+backward, D={D}, bf16 inputs under bf16 autocast; the kernels execute")
    print(f"{executed:.2f} M^2 D FLOP (their tile products, interpreter), the ideal 6 M^2 D\n")
    print(markdown(("M", *loss_bench.COLUMNS), sweep_rows(executed)) + "\n")
    if time_left() > 0:
        print(markdown(("masking", "fused µs", "argsort + gather µs"), masking_rows()) + "\n")
    else:
        print("masking timings skipped: the time budget is spent\n")
    for bench, index in OTHER_LOSSES:
        if time_left() < OTHER_LOSS_S:
            print(f"{bench.title} skipped: the time budget is spent\n")
            continue
        executed = executed_ratio(bench, D, index)
        print(f"{bench.title}, M={OTHER_M}, D={D}, bf16; executed {executed:.2f} {bench.unit_name}\n")
        results = loss_bench.rows(bench, OTHER_M, D, torch.bfloat16, executed)
        print(markdown(loss_bench.COLUMNS, results) + "\n")
    print(f"total {time.perf_counter() - STARTED:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
