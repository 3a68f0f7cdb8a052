"""What the per-op loss benchmarks share (``bench_ntxent``, ``bench_info_nce``, ``bench_cross_modal``).

Each benchmark names its contenders (sslcli's fused kernels, the plain PyTorch loss under the
trainer's bf16 autocast, ``torch.compile`` of it, Lightly where it has the loss) and its ideal FLOP
(one similarity matrix, forward and backward). This module times forward, backward and both with
``triton.testing.do_bench`` (median), measures the peak memory of forward+backward above the inputs,
looks the device's dense peak up by its exact name, and counts the FLOP the fused kernels execute:
their tile products, counted under Triton's interpreter in a child process (``counted_dot_flops``,
the benchmark script run with ``--count D``) at M = 256, as a multiple of the benchmark's unit (M^2 D
for a square similarity matrix). That count is exact for M a multiple of 128 (no padded tiles) and
is printed on a CPU too, where nothing is timed.

``DRY=1`` runs a benchmark end to end on the CPU at toy sizes (the fused kernels in the interpreter,
wall-clock timings, no memory, no torch.compile), so that a script handed to a GPU machine for a
short window is known to work before it gets there.
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

DRY = os.environ.get("DRY") == "1"
if DRY:
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before Triton is imported
    os.environ.setdefault("SSLCLI_KERNELS", "triton")
DEVICE = "cpu" if DRY else "cuda"
COUNT_ROWS = 256  # M of the interpreter's count: a multiple of its 64 x 64 tiles
# dense datasheet TFLOP/s by torch.cuda.get_device_name(): (bf16 tensor cores, fp32 CUDA cores)
PEAK_TFLOPS = {
    "NVIDIA H100 80GB HBM3": (989.4, 66.9),
    "NVIDIA H100 PCIe": (756.0, 51.2),
    "NVIDIA H200": (989.4, 66.9),
    "NVIDIA A100-SXM4-80GB": (312.0, 19.5),
    "NVIDIA A100-SXM4-40GB": (312.0, 19.5),
    "NVIDIA A100 80GB PCIe": (312.0, 19.5),
}


def square(m: int, d: int) -> int:
    return m * m * d


@dataclass(frozen=True)
class LossBench:
    """One loss benchmark: ``inputs(m, d, dtype)`` builds the inputs; ``fused`` is sslcli's loss of
    them and ``contenders()`` maps a name to a loss of them, or to why there is none (not installed,
    no such loss); ``ideal`` is the forward+backward FLOP, in units of ``unit(m, d)`` (``unit_name``),
    of the plain loss that holds its similarity matrix."""

    title: str
    inputs: Callable
    fused: Callable
    contenders: Callable[[], dict[str, Callable | str]]
    ideal: float
    unit: Callable[[int, int], int] = square
    unit_name: str = "M^2 D"


def device_name() -> str:
    import torch

    return "CPU dry run (Triton interpreter, toy sizes)" if DRY else torch.cuda.get_device_name()


def device_peak(dtype) -> float | None:
    import torch

    peaks = PEAK_TFLOPS.get(device_name())
    return None if peaks is None else peaks[dtype == torch.float32]


def under_autocast(loss_fn: Callable) -> Callable:
    """``loss_fn`` under the trainer's autocast (bf16), as every contender runs."""
    import torch

    def run(*inputs):
        with torch.autocast(DEVICE, dtype=torch.bfloat16):
            return loss_fn(*inputs)

    return run


def count_executed(bench: LossBench, d: int) -> tuple[float, int, int, int]:
    """(In the interpreter, on the CPU) what ``bench.fused`` runs forward+backward at M = 256, after a
    first call: the FLOP of its tile products in units of ``bench.unit``, the torch ops around its
    kernels (aten ops dispatched outside a launch), those that read a value to the host, and its
    kernel launches."""
    import torch
    from sslcli.kernels._triton import LazyKernel
    from sslcli.kernels.tile_flops import counted_dot_flops
    from torch.utils._python_dispatch import TorchDispatchMode

    launches, launch = [], LazyKernel.launch

    def counted_launch(kernel, *args, **kwargs):
        launches.append(kernel)
        AtenOps.inside = True  # the interpreter's own copies are no ops of the loss
        try:
            return launch(kernel, *args, **kwargs)
        finally:
            AtenOps.inside = False

    class AtenOps(TorchDispatchMode):
        count, syncs, inside = 0, 0, False

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            counted = not AtenOps.inside
            AtenOps.count += counted
            AtenOps.syncs += counted and func is torch.ops.aten._local_scalar_dense.default  # .item(), bool()
            return func(*args, **(kwargs or {}))

    inputs = bench.inputs(COUNT_ROWS, d, torch.float32)
    bench.fused(*inputs).backward()  # jit and cache outside the counts
    LazyKernel.launch = counted_launch
    try:
        with counted_dot_flops() as counter, AtenOps():
            bench.fused(*inputs).backward()
    finally:
        LazyKernel.launch = launch
    return counter["flop"] / bench.unit(COUNT_ROWS, d), AtenOps.count, AtenOps.syncs, len(launches)


def executed_ratio(bench: LossBench, d: int, index: int = 0) -> float:
    """The FLOP ratio of ``executed_counts``."""
    return executed_counts(bench, d, index)[0]


def executed_counts(bench: LossBench, d: int, index: int = 0) -> tuple[float, int, int, int]:
    """``count_executed`` in a child process (the script defining ``bench``, its ``index``-th, with
    ``--count``), where Triton is imported in interpreter mode and the inputs are on the CPU."""
    env = os.environ | {
        "DRY": "1",
        "TRITON_INTERPRET": "1",
        "SSLCLI_KERNELS": "triton",
        "CUDA_VISIBLE_DEVICES": "",
    }
    child = subprocess.run(
        [sys.executable, inspect.getfile(bench.inputs), "--count", str(index), str(d)],
        env=env, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    flop, ops, syncs, launches = child.stdout.split()[-4:]
    return float(flop), int(ops), int(syncs), int(launches)


def compiled(loss_fn: Callable) -> Callable | str:
    """``torch.compile(loss_fn)``, or why not (a dry run does not compile)."""
    import torch

    if DRY:
        return "not compiled in a dry run"
    torch._dynamo.reset()
    return torch.compile(loss_fn)


def random_inputs(count: int, rows: int, d: int, dtype) -> list:
    """``count`` (rows, D) leaves on the benchmark's device, the same for every contender."""
    import torch

    gen = torch.Generator(device=DEVICE).manual_seed(0)
    return [
        torch.randn(rows, d, device=DEVICE, dtype=dtype, generator=gen, requires_grad=True)
        for _ in range(count)
    ]


def wall_ms(fn: Callable) -> float:
    import time

    start = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - start)


def time_phases(loss_fn: Callable, inputs: list) -> tuple[float, float, float, int]:
    """Median ms of forward, backward, forward+backward, and peak bytes of forward+backward (a dry
    run: one wall-clock run each, no memory)."""
    import torch

    def both() -> None:
        loss_fn(*inputs).backward()

    if DRY:
        loss = loss_fn(*inputs)
        return wall_ms(lambda: loss_fn(*inputs)), wall_ms(loss.backward), wall_ms(both), float("nan")
    from triton.testing import do_bench

    both()  # compile / autotune outside the timings
    for x in inputs:
        x.grad = None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    both()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    with torch.no_grad():
        fwd = do_bench(lambda: loss_fn(*inputs), return_mode="median")
    loss = loss_fn(*inputs)
    bwd = do_bench(lambda: loss.backward(retain_graph=True), grad_to_none=inputs, return_mode="median")
    total = do_bench(both, grad_to_none=inputs, return_mode="median")
    return fwd, bwd, total, peak


def measure(loss_fn: Callable, inputs: list) -> dict | None:
    """Timings (ms) and peak MiB of one contender, or None on OOM (its memory released)."""
    import torch

    try:
        fwd, bwd, total, peak = time_phases(loss_fn, inputs)
    except torch.OutOfMemoryError:
        return None
    finally:
        for x in inputs:
            x.grad = None
        if not DRY:
            torch.cuda.empty_cache()
    return {"fwd": fwd, "bwd": bwd, "total": total, "mib": peak / 2**20}


COLUMNS = (
    "implementation", "fwd ms", "bwd ms", "fwd+bwd ms", "TFLOP/s executed", "TFLOP/s ideal", "% peak (ideal)",
    "peak MiB", "x Lightly",
)  # fmt: skip


def rows(bench: LossBench, m: int, d: int, dtype, executed: float) -> list[tuple[str, ...]]:
    """Every contender at M x D, one row of COLUMNS each: ms, TFLOP/s of the FLOP executed (the fused
    kernels' count; the others are taken to execute the ideal) and of the ideal, % of the dense peak,
    memory, and the speed-up over Lightly's loss."""
    peak = device_peak(dtype)
    contenders = bench.contenders()
    results = {
        name: measure(fn, bench.inputs(m, d, dtype)) for name, fn in contenders.items() if callable(fn)
    }
    lightly = next((r for name, r in results.items() if name.startswith("Lightly") and r), None)
    ideal_flop = bench.ideal * bench.unit(m, d)
    out = []
    for name, fn in contenders.items():
        r = results.get(name)
        if r is None:
            out.append((name, "OOM" if callable(fn) else fn, *[""] * (len(COLUMNS) - 2)))
            continue
        ran = (executed if name.startswith("sslcli") else bench.ideal) * bench.unit(m, d)
        ideal = ideal_flop / r["total"] / 1e9
        share = f"{100 * ideal / peak:.0f}%" if peak else "n/a"
        speedup = f"{lightly['total'] / r['total']:.2f}" if lightly else ""
        times = (f"{r['fwd']:.3f}", f"{r['bwd']:.3f}", f"{r['total']:.3f}")
        rates = (f"{ran / r['total'] / 1e9:.1f}", f"{ideal:.1f}", share)
        out.append((name, *times, *rates, f"{r['mib']:,.0f}", speedup))
    return out


def table(bench: LossBench, m: int, d: int, dtype_name: str, dtype, executed: float):
    """``rows`` as a rich table."""
    from rich.table import Table

    out = Table(title=f"{bench.title} M={m} D={d} {dtype_name}")
    for column in COLUMNS:
        out.add_column(column, justify="left" if column == "implementation" else "right")
    for row in rows(bench, m, d, dtype, executed):
        out.add_row(*row)
    return out


def main(benches: tuple[LossBench, ...], m_sizes: tuple, d_sizes: tuple) -> int:
    """Print each benchmark's executed FLOP, then (on CUDA, or DRY) its tables."""
    from rich.console import Console

    if sys.argv[1:2] == ["--count"]:  # the child of ``executed_ratio``
        print(*count_executed(benches[int(sys.argv[2])], int(sys.argv[3])))
        return 0
    parser = argparse.ArgumentParser(description=", ".join(bench.title for bench in benches))
    parser.add_argument("--m", type=int, nargs="+", default=m_sizes, help="rows M")
    parser.add_argument("--d", type=int, nargs="+", default=d_sizes, help="embedding width D")
    parser.add_argument("--dtype", nargs="+", choices=("bf16", "fp32"), default=["bf16"], help="input dtype")
    args = parser.parse_args()
    if DRY:
        args.m, args.d, args.dtype = [64], [16], ["bf16"]
    console = Console(width=160)
    counts = {(i, d): executed_counts(bench, d, i) for i, bench in enumerate(benches) for d in args.d}
    for (i, d), (ratio, ops, syncs, launches) in counts.items():
        bench = benches[i]
        console.print(
            f"{bench.title}, D={d}: the fused kernels execute {ratio:.2f} {bench.unit_name} FLOP per "
            f"forward+backward (counted in Triton's interpreter at M={COUNT_ROWS}); "
            f"the ideal is {bench.ideal:g} {bench.unit_name}; {launches} kernel launches, "
            f"{ops} torch ops around them ({syncs} reading to the host)"
        )
    executed = {key: value[0] for key, value in counts.items()}
    import torch

    if not DRY and not torch.cuda.is_available():
        console.print("no CUDA device: nothing to time (DRY=1 runs it at toy sizes on the CPU)")
        return 0
    console.print(
        f"{device_name()} | torch {torch.__version__} | {datetime.date.today()} | "
        f"command: python {' '.join(sys.argv)} | every contender under bf16 autocast; memory above the inputs"
    )
    dtypes = {"bf16": torch.bfloat16, "fp32": torch.float32}
    for i, bench in enumerate(benches):
        for dtype_name in args.dtype:
            for d in args.d:
                for m in args.m:
                    console.print(table(bench, m, d, dtype_name, dtypes[dtype_name], executed[i, d]))
    return 0
