"""Peak resident memory of each domain's default pretraining, beside what the memory plan chose.

Each case runs ``sslcli pretrain`` as a new process with the domain's defaults (built-in sample, or a
generated folder for the case the issue met: 8-frame clips as frame folders, where the video recipe's
batch of 256 at 112 px was killed by the out-of-memory killer), for one epoch. The table gives the
peak RSS of the largest process (``os.wait4``'s ``ru_maxrss``), the batch and accumulation the run
trained with, the plan's estimate of that micro-batch (``sslcli.engine.memory_plan``, from the run's
"memory:" note) and the memory free at the start.

A second table sets the plan's per-item figure (``config.json``'s ``memory.per_item_mib``) beside the
growth of peak RSS per item measured between two batch sizes, without loader workers (so the plan
and the main process count the same batches). Asserts nothing.

    python benchmarks/bench_memory.py [--cases natural,...,video-folders] [--growth image224,clips]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from sslcli.engine.memory_plan import host_free_memory

CASES = {
    "natural": ["--domain", "natural"],
    "medical": ["--domain", "medical"],
    "audio": ["--domain", "audio"],
    "video": ["--domain", "video"],
    "audiovisual": ["--domain", "audiovisual"],
    "video-folders": ["--domain", "video", "--data", "{clips}"],
}
CLIPS, FRAMES = 280, 8  # the folder: 280 clips of 8 frames
# growth cases: flags, and the two batch sizes whose peak RSS give the growth per item
GROWTH = {
    "image224": (["--data", "{digits}", "--backbone", "resnet18", "--input-size", "224"], (16, 64)),
    "clips": (["--domain", "video", "--data", "{few_clips}"], (10, 40)),
}


def write_frame_folders(root: Path, clips: int = CLIPS) -> Path:
    """``clips`` folders of ``FRAMES`` JPEG frames (160 x 128, a pattern sliding sideways)."""
    rng = np.random.default_rng(0)
    for clip in range(clips):
        folder = root / f"clip{clip:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 255, (128, 160, 3), dtype=np.uint8)
        for frame in range(FRAMES):
            Image.fromarray(np.roll(base, frame * 4, axis=1)).save(folder / f"{frame:04d}.jpg")
    return root


def write_digits(root: Path, count: int = 90) -> Path:
    """``count`` of scikit-learn's 8 x 8 handwritten digits as PNGs (upscaled by the run's resize)."""
    from sklearn.datasets import load_digits

    root.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(load_digits().images[:count]):
        Image.fromarray((image * 15).astype(np.uint8), mode="L").save(root / f"{i:03d}.png")
    return root


def peak_rss(argv: list[str]) -> tuple[int, float, str]:
    """(peak RSS in bytes of the largest process, wall seconds, stderr) of running ``argv``."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read()
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    if process.returncode != 0:
        text = f"exit {process.returncode}: {text.strip().splitlines()[-1] if text.strip() else ''}"
    return usage.ru_maxrss * scale, time.perf_counter() - start, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--growth", default=",".join(GROWTH))
    args = parser.parse_args()
    table = Table(title="Peak RSS of each domain's default pretraining (1 epoch)")
    for column in ("case", "batch x accumulate", "plan: memory note", "peak RSS", "free at start", "wall"):
        table.add_column(column)
    with tempfile.TemporaryDirectory() as tmp:
        clips = str(write_frame_folders(Path(tmp) / "clips")) if "video-folders" in args.cases else ""
        for case in args.cases.split(","):
            run = Path(tmp) / f"run-{case}"
            flags = [flag.format(clips=clips) for flag in CASES[case]]
            argv = [sys.executable, "-m", "sslcli", "pretrain", *flags, "--out", str(run), "--epochs", "1"]
            free = host_free_memory()
            rss, wall, stderr = peak_rss([*argv, "--logger", "none"])
            notes = [line for line in stderr.splitlines() if "memory:" in line or line.startswith("exit")]
            config = json.loads((run / "config.json").read_text())["config"] if run.exists() else {}
            batch = f"{config.get('batch_size', '?')} x {config.get('accumulate', '?')}"
            note = notes[0].split("memory: ", 1)[-1][:90] if notes else "fits as the recipe chose"
            table.add_row(
                case, batch, note, f"{rss / 2**30:.2f} GiB", f"{free / 2**30:.1f} GiB", f"{wall:.0f} s"
            )
    console = Console(width=200)
    console.print(table)
    if args.growth:
        console.print(growth_table(args.growth.split(",")))
    console.print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads default, "
        f"{datetime.date.today().isoformat()}"
    )


def growth_table(cases: list[str]) -> Table:
    """Peak RSS at two batch sizes per case, its growth per item, and the plan's per-item figure."""
    table = Table(title="The plan's bytes per item against measured growth (1 epoch, no loader workers)")
    for column in (
        "case",
        "batch -> peak RSS",
        "measured growth per item",
        "plan per item",
        "plan / measured",
    ):
        table.add_column(column)
    with tempfile.TemporaryDirectory() as tmp:
        folders = {
            "digits": write_digits(Path(tmp) / "digits"),
            "few_clips": write_frame_folders(Path(tmp) / "c", 40),
        }
        for case in cases:
            flags, batches = GROWTH[case]
            peaks, planned = [], 0.0
            for batch in batches:
                run = Path(tmp) / f"run-{case}-{batch}"
                argv = [sys.executable, "-m", "sslcli", "pretrain", *[f.format(**folders) for f in flags]]
                argv += ["--out", str(run), "--epochs", "1", "--batch-size", str(batch), "--num-workers", "0"]
                peaks.append(peak_rss([*argv, "--logger", "none"])[0])
                planned = json.loads((run / "config.json").read_text())["memory"]["per_item_mib"]
            growth = (peaks[1] - peaks[0]) / (batches[1] - batches[0]) / 2**20
            shown = ", ".join(f"{b}: {p / 2**30:.2f} GiB" for b, p in zip(batches, peaks, strict=True))
            table.add_row(case, shown, f"{growth:.0f} MiB", f"{planned:.0f} MiB", f"{planned / growth:.2f}")
    return table


if __name__ == "__main__":
    main()
