"""Benchmark the fused MAE masking and un-shuffle kernels against MAE's noise -> argsort -> gather.

    python benchmarks/bench_mae_masking.py      # B=256, 3x224x224, patch 16, ratio 0.75, bf16 (CUDA)
    python benchmarks/bench_mae_masking.py --batch 64 --embed 768

Times (``triton.testing.do_bench``, median) the masking of images into visible patches and the
decoder-side un-shuffle, and reports the effective bandwidth of the bytes each op must move. Prints;
never asserts.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable

import torch
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
    """Median microseconds of ``fn`` after one warm-up call (autotuning happens there)."""
    from triton.testing import do_bench

    fn()
    return 1e3 * do_bench(fn, return_mode="median")


def masking_rows(args: argparse.Namespace) -> list[tuple[str, float, float]]:
    """(name, µs, bytes moved) for the masking of one batch of images."""
    images = torch.randn(args.batch, 3, args.size, args.size, device="cuda").to(
        torch.bfloat16
    )  # (B, C, H, W)
    length = (args.size // args.patch) ** 2
    noise = torch.rand(args.batch, length, device="cuda")  # (B, L)
    keep = num_visible(length, args.ratio)
    moved = 2 * args.batch * keep * args.patch**2 * 3 * images.element_size()  # read + write the kept pixels
    ratio, patch = args.ratio, args.patch
    return [
        (
            "sslcli triton, in-kernel noise",
            bench(lambda: mae_random_masking(images, ratio, patch, seed=1)),
            moved,
        ),
        (
            "sslcli triton, given noise",
            bench(lambda: mae_random_masking(images, ratio, patch, noise=noise)),
            moved,
        ),
        (
            "reference: rand -> argsort -> gather",
            bench(lambda: mae_random_masking_reference(images, ratio, patch)),
            moved,
        ),
    ]


def unshuffle_rows(args: argparse.Namespace) -> list[tuple[str, float, float]]:
    """(name, µs, bytes moved) for the decoder-side un-shuffle of one batch of tokens."""
    length = (args.size // args.patch) ** 2
    keep = num_visible(length, args.ratio)
    visible = torch.randn(args.batch, keep, args.embed, device="cuda").to(torch.bfloat16)  # (B, L_keep, E)
    token = torch.randn(args.embed, device="cuda").to(torch.bfloat16)  # (E,)
    ids_restore = torch.argsort(torch.rand(args.batch, length, device="cuda"), dim=1)  # (B, L)
    moved = (args.batch * (keep + length) * args.embed) * visible.element_size()  # read visible, write all
    return [
        ("sslcli triton", bench(lambda: mae_unshuffle(visible, token, ids_restore)), moved),
        (
            "reference: cat -> gather",
            bench(lambda: mae_unshuffle_reference(visible, token, ids_restore)),
            moved,
        ),
    ]


def print_table(console: Console, title: str, rows: list[tuple[str, float, float]]) -> None:
    table = Table(title=title)
    for column in ("implementation", "µs", "GB/s", "speed-up vs reference"):
        table.add_column(column, justify="left" if column == "implementation" else "right")
    reference_us = rows[-1][1]
    for name, micros, moved in rows:
        table.add_row(name, f"{micros:.1f}", f"{moved / micros / 1e3:.0f}", f"{reference_us / micros:.2f}x")
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
    print_table(console, f"MAE masking {shape}", masking_rows(args))
    print_table(console, f"MAE un-shuffle {shape} E={args.embed}", unshuffle_rows(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
