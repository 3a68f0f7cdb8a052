"""Benchmark the fused NT-Xent kernels against eager PyTorch, torch.compile and Lightly.

    python benchmarks/bench_ntxent.py                      # M 1024 ... 65536, D 128 and 256, bf16 (CUDA only)
    python benchmarks/bench_ntxent.py --m 262144 --d 128 --dtype bf16 fp32

Times forward, backward and forward+backward with ``triton.testing.do_bench`` (median), reports
TFLOP/s counting 2*M^2*D (forward), 4*M^2*D (backward) and 6*M^2*D (both), the share of the device's
dense peak, and the peak memory of forward+backward above the inputs. Out-of-memory shows as OOM.
Lightly's ``NTXentLoss`` is compared when ``lightly`` is installed. Every implementation runs under
the bf16 autocast the trainer uses on CUDA, on the same inputs. Prints; never asserts.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import sys
from collections.abc import Callable

import torch
from rich.console import Console
from rich.table import Table
from sslcli.kernels.ntxent import nt_xent, nt_xent_reference

M_SIZES = (1024, 4096, 16384, 65536)
D_SIZES = (128, 256)
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}
# dense datasheet peaks in TFLOP/s: (bf16 tensor core, fp32 without tensor cores)
PEAKS = {
    "H100 80GB HBM3": (989.4, 66.9),
    "H200": (989.4, 66.9),
    "H100 PCIe": (756.0, 51.2),
    "A100": (312.0, 19.5),
}
TEMPERATURE = 0.1


def device_peak(dtype: torch.dtype) -> float | None:
    name = torch.cuda.get_device_name()
    for key, (bf16, fp32) in PEAKS.items():
        if key in name:
            return bf16 if dtype != torch.float32 else fp32
    return None


def implementations() -> dict[str, Callable | None]:
    """name -> loss(z_a, z_b), or None when unavailable."""
    reference = functools.partial(nt_xent_reference, temperature=TEMPERATURE, gather_distributed=False)
    torch._dynamo.reset()
    impls = {
        "sslcli triton": functools.partial(nt_xent, temperature=TEMPERATURE, gather_distributed=False),
        "eager reference": reference,
        "torch.compile(reference)": torch.compile(reference),
        "lightly NTXentLoss": None,
    }
    try:
        from lightly.loss import NTXentLoss
    except ImportError:
        return {name: fn and under_autocast(fn) for name, fn in impls.items()}
    impls["lightly NTXentLoss"] = NTXentLoss(temperature=TEMPERATURE, gather_distributed=False)
    return {name: fn and under_autocast(fn) for name, fn in impls.items()}


def under_autocast(loss_fn: Callable) -> Callable:
    """``loss_fn`` run under the trainer's CUDA autocast (bf16), as every contender is."""

    def run(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return loss_fn(z_a, z_b)

    return run


def time_phases(loss_fn: Callable, z_a: torch.Tensor, z_b: torch.Tensor) -> tuple[float, float, float, int]:
    """Median ms of forward, backward, forward+backward, and peak bytes of forward+backward."""
    from triton.testing import do_bench

    def both() -> None:
        loss_fn(z_a, z_b).backward()

    both()  # compile / autotune outside the timings
    z_a.grad = z_b.grad = None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    both()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    with torch.no_grad():
        fwd = do_bench(lambda: loss_fn(z_a, z_b), return_mode="median")
    loss = loss_fn(z_a, z_b)
    bwd = do_bench(lambda: loss.backward(retain_graph=True), grad_to_none=[z_a, z_b], return_mode="median")
    total = do_bench(both, grad_to_none=[z_a, z_b], return_mode="median")
    return fwd, bwd, total, peak


def measure(m: int, d: int, dtype: torch.dtype, loss_fn: Callable) -> dict[str, float] | None:
    """Timings (ms), TFLOP/s and peak MiB of one implementation at M x D, or None on OOM."""
    gen = torch.Generator(device="cuda").manual_seed(0)
    z_a = torch.randn(m // 2, d, device="cuda", dtype=dtype, generator=gen, requires_grad=True)  # (N, D)
    z_b = torch.randn(m // 2, d, device="cuda", dtype=dtype, generator=gen, requires_grad=True)  # (N, D)
    try:
        fwd, bwd, total, peak = time_phases(loss_fn, z_a, z_b)
    except torch.OutOfMemoryError:
        return None
    finally:
        torch.cuda.empty_cache()
    return {
        "fwd": fwd,
        "bwd": bwd,
        "total": total,
        "tflops": 6 * m * m * d / total / 1e9,
        "mib": peak / 2**20,
    }


def table_for(m: int, d: int, dtype_name: str) -> Table:
    """One table: every implementation at M x D, with speed-ups of forward+backward over Lightly."""
    dtype = DTYPES[dtype_name]
    peak_flops = device_peak(dtype)
    impls = implementations()
    results = {name: fn and measure(m, d, dtype, fn) for name, fn in impls.items()}
    lightly = results["lightly NTXentLoss"]
    table = Table(title=f"NT-Xent M={m} D={d} {dtype_name}")
    columns = (
        "implementation",
        "fwd ms",
        "bwd ms",
        "fwd+bwd ms",
        "TFLOP/s",
        "% peak",
        "peak MiB",
        "x Lightly",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "implementation" else "right")
    for name, fn in impls.items():
        r = results[name]
        if fn is None or r is None:
            table.add_row(name, *(["not installed"] if fn is None else ["OOM"] * 3 + ["", "", "OOM"]))
            continue
        share = f"{100 * r['tflops'] / peak_flops:.0f}%" if peak_flops else "n/a"
        speedup = f"{lightly['total'] / r['total']:.2f}" if lightly else ""
        cells = (f"{r['fwd']:.3f}", f"{r['bwd']:.3f}", f"{r['total']:.3f}", f"{r['tflops']:.1f}", share)
        table.add_row(name, *cells, f"{r['mib']:,.0f}", speedup)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, nargs="+", default=M_SIZES, help="rows M = 2N")
    parser.add_argument("--d", type=int, nargs="+", default=D_SIZES, help="embedding width D")
    parser.add_argument("--dtype", nargs="+", choices=DTYPES, default=["bf16"], help="input dtype")
    args = parser.parse_args(argv)
    console = Console(width=140)
    if not torch.cuda.is_available():
        console.print("no CUDA device: nothing to time (tests/kernels check the kernels on CPU)")
        return 0
    console.print(
        f"{torch.cuda.get_device_name()} | torch {torch.__version__} | {datetime.date.today()} | "
        f"command: python {' '.join(sys.argv)}"
    )
    console.print(
        "TFLOP/s and % of dense peak count 6*M^2*D for forward+backward; memory is above the inputs"
    )
    for dtype_name in args.dtype:
        for d in args.d:
            for m in args.m:
                console.print(table_for(m, d, dtype_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
