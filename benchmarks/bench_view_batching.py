"""Two views through an encoder as one joint batch (sslcli's SimCLR: one batch-norm pass over both,
as the paper's) against one batch per view (Lightly's recipe): forward and backward seconds of a
ResNet-18 (small-image stem) on 2 x ``--batch`` images after one untimed pass of each, the order
alternating. Prints a table.

    python benchmarks/bench_view_batching.py [--batch 256] [--size 32] [--repeats 4]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import torch
from rich.console import Console
from rich.table import Table

from sslcli.models import build_backbone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    torch.manual_seed(0)
    encoder, _ = build_backbone("resnet18", args.size)
    first, second = (torch.randn(args.batch, 3, args.size, args.size) for _ in range(2))  # (B, 3, S, S)

    def joint() -> None:
        encoder(torch.cat([first, second])).sum().backward()  # one (2B, 3, S, S) batch

    def per_view() -> None:
        (encoder(first).sum() + encoder(second).sum()).backward()  # two (B, 3, S, S) batches

    joint(), per_view()  # warm-up: memory allocation, kernel selection
    seconds: dict[str, list[float]] = {"one joint batch": [], "one batch per view": []}
    for repeat in range(args.repeats):
        order = [("one joint batch", joint), ("one batch per view", per_view)]
        for name, step in order if repeat % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            step()
            seconds[name].append(time.perf_counter() - start)
    table = Table(
        title=f"ResNet-18 at {args.size} px, 2 x {args.batch} images, forward + backward, "
        f"{platform.machine()} CPU, {torch.get_num_threads()} threads, {datetime.date.today().isoformat()}"
    )
    for column in ("batching", "seconds per repeat"):
        table.add_column(column)
    for name, values in seconds.items():
        table.add_row(name, " / ".join(f"{value:.2f}" for value in values))
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
