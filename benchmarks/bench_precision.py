"""One SimCLR optimizer step of each domain's CPU-recipe encoder, by precision and memory layout.

Rows are timed side by side in one run: fp32 in torch's default layout (the trainer before bf16 on a
CPU), fp32 channels-last, and bf16 autocast channels-last (``--precision bf16``; ``auto`` picks it on
CUDA and on a CPU with AMX). Synthetic views, AdamW, the trainer's own autocast and layout helpers;
the median of ``--steps`` steps after two warm-up steps.

    python benchmarks/bench_precision.py [--steps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import torch
from rich.console import Console
from rich.table import Table

from sslcli.engine.acceleration import (
    channels_last_convolutions,
    channels_last_views,
    cpu_has_amx,
    training_autocast,
)
from sslcli.methods import StepContext
from sslcli.models import build_backbone
from sslcli.registry import METHODS

# (what, backbone, input name, one item's shape, batch): the recipes' encoders on a CPU
CASES = [
    ("natural, small images", "resnet18", "image", (3, 32, 32), 128),
    ("natural, photos", "resnet10", "image", (3, 96, 96), 64),
    ("audio", "spec_cnn", "spectrogram", (1, 96, 96), 64),
    ("video clips", "resnet10", "video", (4, 3, 80, 80), 32),
    ("medical", "resnet18", "image", (1, 224, 224), 16),
]
MODES = [("fp32", False), ("fp32", True), ("bf16", True)]  # (precision, channels-last)


def step_seconds(case: tuple, precision: str, channels_last: bool, device: torch.device, steps: int) -> float:
    _, backbone_name, input_name, shape, batch = case
    torch.manual_seed(0)
    size = shape[-2:] if len(shape) == 3 else (shape[0], *shape[-2:])
    backbone, feature_dim = build_backbone(backbone_name, size, shape[-3])
    method = METHODS["simclr"](backbone, feature_dim).to(device)
    views = [{input_name: torch.randn(batch, *shape, device=device)} for _ in range(2)]
    if channels_last:
        channels_last_convolutions(method)
        views = channels_last_views(views)
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-3)
    durations = []
    for step in range(steps + 2):
        synchronize(device)
        start = time.perf_counter()
        with training_autocast(device, precision):
            loss = method(views, StepContext()).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        synchronize(device)
        if step >= 2:
            durations.append(time.perf_counter() - start)
    return sorted(durations)[len(durations) // 2]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    table = Table(title="s per SimCLR step (two views, forward, backward, AdamW); speed-up against fp32")
    for column in ("encoder", "batch", *(f"{p}{' channels-last' if cl else ''}" for p, cl in MODES)):
        table.add_column(column, justify="left" if column == "encoder" else "right")
    for case in CASES:
        seconds = [step_seconds(case, precision, cl, device, args.steps) for precision, cl in MODES]
        cells = [f"{s:.2f} ({seconds[0] / s:.1f}x)" for s in seconds]
        what, backbone, _, shape, batch = case
        table.add_row(f"{what}: {backbone} {'x'.join(map(str, shape))}", str(batch), *cells)
    console = Console(width=150)
    console.print(table)
    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine()
    amx = f", AMX: {'yes' if cpu_has_amx() else 'no'}" if device.type == "cpu" else ""
    console.print(
        f"{machine}{amx}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"{datetime.date.today()}"
    )


if __name__ == "__main__":
    main()
