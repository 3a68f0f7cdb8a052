"""Benchmark the fused MAE masking and un-shuffle kernels against MAE's noise -> argsort -> gather.

    python benchmarks/bench_mae_masking.py      # B=256, 3x224x224, patch 16, ratio 0.75, bf16 (CUDA)
    python benchmarks/bench_mae_masking.py --batch 64 --embed 768

Times (``triton.testing.do_bench``, median) the masking of images into visible patches and the
decoder-side un-shuffle, forward alone and forward+backward (a fixed upstream gradient into the
images or tokens), with the peak memory of forward+backward and the effective bandwidth of the bytes
the forward must move. Contenders: the kernels, ``torch.compile`` of the reference and the eager
reference (MAE's argsort + gather). Prints; never asserts.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import sys
from collections.abc import Callable

import torch
from cuda_memory import peak_mib
from rich.console import Console
from rich.table import Table
from sslcli.kernels.mae_masking import (
    mae_random_masking,
    mae_random_masking_reference,
    mae_unshuffle,
    mae_unshuffle_reference,
    num_visible,
)


def bench(fn: Callable[[], object]) -> float:
    """Median microseconds of ``fn`` after one warm-up call (autotuning and compiling happen there)."""
    from triton.testing import do_bench

    fn()
    return 1e3 * do_bench(fn, return_mode="median")


def measure(contenders: dict[str, Callable[[], torch.Tensor]], leaf: torch.Tensor) -> list[tuple]:
    """(name, forward µs, forward+backward µs, peak MiB of both) per contender; the backward takes a
    fixed upstream gradient of the output's shape into ``leaf``."""
    rows = []
    for name, forward in contenders.items():
        upstream = torch.randn_like(forward())

        def both(forward=forward, upstream=upstream) -> None:
            forward().backward(upstream)
            leaf.grad = None

        with torch.no_grad():
            forward_us = bench(forward)
        rows.append((name, forward_us, bench(both), peak_mib(both)))
    return rows


def masking_rows(args: argparse.Namespace) -> tuple[list[tuple], float]:
    """Rows for the masking of one batch of images, and the bytes the forward must move."""
    images = torch.randn(args.batch, 3, args.size, args.size, device="cuda", dtype=torch.bfloat16)
    images.requires_grad_()  # (B, C, H, W)
    length = (args.size // args.patch) ** 2
    noise = torch.rand(args.batch, length, device="cuda")  # (B, L)
    keep = num_visible(length, args.ratio)
    moved = 2 * args.batch * keep * args.patch**2 * 3 * images.element_size()  # read + write the kept pixels
    ratio, patch = args.ratio, args.patch
    reference = functools.partial(
        mae_random_masking_reference, mask_ratio=ratio, patch_size=patch, noise=noise
    )
    torch._dynamo.reset()
    compiled = torch.compile(reference, dynamic=False)
    contenders = {
        "sslcli triton, in-kernel noise": lambda: mae_random_masking(images, ratio, patch, seed=1).visible,
        "sslcli triton, given noise": lambda: mae_random_masking(images, ratio, patch, noise=noise).visible,
        "torch.compile(reference)": lambda: compiled(images).visible,
        "reference: argsort -> gather": lambda: reference(images).visible,
    }
    return measure(contenders, images), moved


def unshuffle_rows(args: argparse.Namespace) -> tuple[list[tuple], float]:
    """Rows for the decoder-side un-shuffle of one batch of tokens, and the bytes it must move."""
    length = (args.size // args.patch) ** 2
    keep = num_visible(length, args.ratio)
    visible = torch.randn(args.batch, keep, args.embed, device="cuda", dtype=torch.bfloat16)
    visible.requires_grad_()  # (B, L_keep, E)
    token = torch.randn(args.embed, device="cuda", dtype=torch.bfloat16)  # (E,)
    ids_restore = torch.argsort(torch.rand(args.batch, length, device="cuda"), dim=1)  # (B, L)
    moved = (args.batch * (keep + length) * args.embed) * visible.element_size()  # read visible, write all
    torch._dynamo.reset()
    compiled = torch.compile(mae_unshuffle_reference, dynamic=False)
    contenders = {
        "sslcli triton": lambda: mae_unshuffle(visible, token, ids_restore),
        "torch.compile(reference)": lambda: compiled(visible, token, ids_restore),
        "reference: cat -> gather": lambda: mae_unshuffle_reference(visible, token, ids_restore),
    }
    return measure(contenders, visible), moved


def print_table(console: Console, title: str, rows: list[tuple], moved: float) -> None:
    table = Table(title=title)
    columns = ("implementation", "fwd µs", "fwd GB/s", "fwd+bwd µs", "peak MiB", "fwd+bwd vs reference")
    for column in columns:
        table.add_column(column, justify="left" if column == "implementation" else "right")
    reference_us = rows[-1][2]
    for name, forward_us, both_us, mib in rows:
        cells = (f"{forward_us:.1f}", f"{moved / forward_us / 1e3:.0f}", f"{both_us:.1f}", f"{mib:.0f}")
        table.add_row(name, *cells, f"{reference_us / both_us:.2f}x")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=224, help="image height = width")
    parser.add_argument("--patch", type=int, default=16)
    parser.add_argument("--ratio", type=float, default=0.75)
    parser.add_argument("--embed", type=int, default=512, help="decoder width E for the un-shuffle")
    args = parser.parse_args(argv)
    console = Console(width=140)
    if not torch.cuda.is_available():
        console.print("no CUDA device: nothing to time (tests/kernels check the kernels on CPU)")
        return 0
    console.print(
        f"{torch.cuda.get_device_name()} | torch {torch.__version__} | {datetime.date.today()} | "
        f"command: python {' '.join(sys.argv)}"
    )
    shape = f"B={args.batch} 3x{args.size}x{args.size} patch {args.patch} ratio {args.ratio} bf16"
    print_table(console, f"MAE masking {shape}", *masking_rows(args))
    print_table(console, f"MAE un-shuffle {shape} E={args.embed}", *unshuffle_rows(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
