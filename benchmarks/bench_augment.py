"""Natural-image view throughput: SimCLR's views made per item on the CPU (``augment_on="cpu"``, what
a loader worker runs) against crop and flip per item plus the colour stages on whole batches
(``augment_on="device"``, kornia), on the CPU and, when there is one, on a CUDA device.

Items are random 3 x 40 x 40 images in [0, 1]; each item gives two views of ``--side`` px with the
natural domain's default options (jitter 0.8, grayscale 0.2, blur 0.5). The per-item rates are one
process on one thread, as a loader worker runs them (a loader spreads items over its workers); the
batch rates use the process's threads, include the host-to-device copy and wait for the device.
Prints a table; asserts nothing about speed.

    python benchmarks/bench_augment.py [--batch 256] [--side 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from collections.abc import Callable

import torch
from rich.console import Console
from rich.table import Table

from sslcli.data.loader import stack_samples
from sslcli.registry import DOMAINS

SOURCE_SIDE = 40


def timed(run: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Seconds per call of ``run`` (after one warm-up call), the device waited for."""
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / repeats


def per_item_views(images: list[torch.Tensor], augment_on: str, side: int) -> Callable[[], list]:
    """Two views of every image, one image at a time, stacked into the batch's views."""
    view_fn = DOMAINS["natural"].configured({"augment_on": augment_on}).views("two_views", side)

    def run() -> list:
        views = [view_fn({"image": image}) for image in images]
        return [stack_samples(list(group)) for group in zip(*views, strict=True)]  # (B, 3, S, S) each

    return run


def batch_colour(images: list[torch.Tensor], side: int, device: torch.device) -> Callable[[], list]:
    """The colour stages on the batch's two views (already cropped and flipped), on ``device``."""
    natural = DOMAINS["natural"].configured({"augment_on": "device"})
    natural.views("two_views", side)
    views = per_item_views(images, "device", side)()  # pinned below: the copy a CUDA loader makes
    if device.type == "cuda":
        views = [{"image": view["image"].pin_memory()} for view in views]

    def run() -> list:
        on_device = [{"image": view["image"].to(device, non_blocking=True)} for view in views]
        return natural.batch_augment(on_device)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--side", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    images = [torch.rand(3, SOURCE_SIDE, SOURCE_SIDE) for _ in range(args.batch)]
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    console = Console()
    cpu_name = platform.processor() or platform.machine()
    gpu = f" | {torch.cuda.get_device_name()}" if torch.cuda.is_available() else " | no CUDA device"
    console.print(
        f"{datetime.date.today()} | torch {torch.__version__} | {cpu_name}, {torch.get_num_threads()} threads"
        f"{gpu} | batch {args.batch}, two views of {args.side} px from {SOURCE_SIDE} px images"
    )
    cpu, threads = torch.device("cpu"), torch.get_num_threads()
    torch.set_num_threads(1)  # what DataLoader sets in each worker
    every_stage = args.batch / timed(per_item_views(images, "cpu", args.side), cpu, args.repeats)
    crop_flip = args.batch / timed(per_item_views(images, "device", args.side), cpu, args.repeats)
    torch.set_num_threads(threads)
    table = Table(title="SimCLR views, items/s (two views each)")
    for column in ("path", "stage", "device", "items/s"):
        table.add_column(column, justify="right" if column == "items/s" else "left")
    table.add_row("per item (augment_on=cpu)", "every stage", "cpu, 1 thread", f"{every_stage:,.0f}")
    table.add_row("batched (augment_on=device)", "crop + flip per item", "cpu, 1 thread", f"{crop_flip:,.0f}")
    for device in devices:
        colour = args.batch / timed(batch_colour(images, args.side, device), device, args.repeats)
        where = f"cpu, {threads} thread{'s' * (threads > 1)}" if device.type == "cpu" else device.type
        table.add_row("", "colour stages on the batch", where, f"{colour:,.0f}")
        table.add_row(
            "",
            "both, one after the other",
            f"cpu + {device.type}",
            f"{1 / (1 / crop_flip + 1 / colour):,.0f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
