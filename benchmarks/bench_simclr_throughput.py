"""SimCLR training throughput: ResNet-18 (small stem), 32 px, batch 256, on the current device.

Times full optimizer steps (forward of both views, NT-Xent, backward, AdamW) on synthetic views, so
the figure is the model's ceiling without data loading. bf16 autocast on CUDA, fp32 on CPU.

    python benchmarks/bench_simclr_throughput.py [--batch-size 256] [--input-size 32] [--steps N]
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
from rich.console import Console
from rich.table import Table

from sslcli.methods import StepContext
from sslcli.models import build_backbone
from sslcli.registry import METHODS


def time_steps(batch_size: int, input_size: int, steps: int, device: torch.device) -> float:
    """Seconds per optimizer step, median over ``steps`` after two warm-up steps."""
    torch.manual_seed(0)
    backbone, feature_dim = build_backbone("resnet18", input_size)
    method = METHODS["simclr"](backbone, feature_dim).to(device)
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-3)
    views = [torch.randn(batch_size, 3, input_size, input_size, device=device) for _ in range(2)]
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    )
    durations = []
    for step in range(steps + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast:
            loss = method(views, StepContext()).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= 2:
            durations.append(time.perf_counter() - start)
    return sorted(durations)[len(durations) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 3 on CPU, 20 on CUDA)")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    steps = args.steps or (20 if device.type == "cuda" else 3)
    seconds = time_steps(args.batch_size, args.input_size, steps, device)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({torch.get_num_threads()} threads)"
    )
    table = Table(title="SimCLR training throughput (synthetic views, no data loading)")
    for column in ("device", "precision", "input", "batch (pairs)", "s/step", "pairs/s", "images/s"):
        table.add_column(column, justify="right")
    table.add_row(
        name,
        "bf16 autocast" if device.type == "cuda" else "fp32",
        f"{args.input_size}px",
        str(args.batch_size),
        f"{seconds:.3f}",
        f"{args.batch_size / seconds:.1f}",
        f"{2 * args.batch_size / seconds:.1f}",
    )
    Console().print(table)


if __name__ == "__main__":
    main()
