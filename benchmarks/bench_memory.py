"""Peak resident memory of each domain's default pretraining, beside what the memory plan chose.

Each case runs ``sslcli pretrain`` as a new process with the domain's defaults (built-in sample, or a
generated folder for the case the issue met: 8-frame clips as frame folders, where the video recipe's
batch of 256 at 112 px was killed by the out-of-memory killer), for one epoch. The table gives the
peak RSS of the largest process (``os.wait4``'s ``ru_maxrss``), the batch and accumulation the run
trained with, the plan's estimate of that micro-batch (``sslcli.engine.memory_plan``, from the run's
"memory:" note or recomputed from config.json) and the memory free at the start. Asserts nothing.

    python benchmarks/bench_memory.py [--cases natural,medical,audio,video,audiovisual,video-folders]
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


def write_frame_folders(root: Path) -> Path:
    """``CLIPS`` folders of ``FRAMES`` JPEG frames (160 x 128, a pattern sliding sideways)."""
    rng = np.random.default_rng(0)
    for clip in range(CLIPS):
        folder = root / f"clip{clip:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 255, (128, 160, 3), dtype=np.uint8)
        for frame in range(FRAMES):
            Image.fromarray(np.roll(base, frame * 4, axis=1)).save(folder / f"{frame:04d}.jpg")
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
    console.print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads default, "
        f"{datetime.date.today().isoformat()}"
    )


if __name__ == "__main__":
    main()
