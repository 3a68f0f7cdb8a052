"""Peak memory of ``sslcli embed`` against corpus size: does it stay flat from 1k to 100k items?

Each measurement is one ``python -m sslcli embed`` child process (``--num-workers 0``, so the loader
runs inside it), whose peak resident set size is read from the kernel when it exits (``os.wait4``'s
``ru_maxrss``). The encoder is a real run's: a ResNet-10 (512-d features) pretrained for one epoch on
8x8 inputs, so 100k items take a minute or two of CPU rather than an hour. The corpus is 1,000 random
8x8 greyscale PNGs in class folders, hard-linked as often as needed (every path is decoded and
embedded on its own; links keep 100k files off the disk's block budget).

    python benchmarks/bench_embed_memory.py                      # 1k and 100k, npy and parquet
    python benchmarks/bench_embed_memory.py --sizes 1000 10000 --formats npy

Prints a table; asserts nothing. Memory that still grows with N here is per-item metadata (the
sorted item list, its labels and ids), not embeddings: a float32 row of 512 is 2 KiB, 200 MiB at 100k.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

DISTINCT = 1000  # distinct images; larger corpora hard-link them under new names
PER_FOLDER = 1000
CLASSES = 10


def write_images(root: Path, rng: np.random.Generator) -> list[Path]:
    files = []
    for k in range(DISTINCT):
        folder = root / f"class_{k % CLASSES}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"img_{k:04d}.png"
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(path)
        files.append(path)
    return files


def corpus(base: Path, items: int, originals: list[Path]) -> Path:
    """``items`` files under ``base/corpus_<items>``: class folders of up to PER_FOLDER links each."""
    root = base / f"corpus_{items}"
    if root.is_dir():
        return root
    for i in range(items):
        source = originals[i % DISTINCT]
        folder = root / f"{source.parent.name}" / f"chunk_{i // (PER_FOLDER * CLASSES):03d}"
        folder.mkdir(parents=True, exist_ok=True)
        os.link(source, folder / f"item_{i:07d}.png")
    return root


def sslcli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sslcli", *args]


def pretrain(base: Path, data: Path) -> Path:
    run = base / "run"
    if (run / "encoder.safetensors").is_file():
        return run
    config = base / "tiny.json"
    config.write_text(json.dumps({"backbone": "resnet10"}))
    subprocess.run(
        sslcli(
            "pretrain", "--data", str(data), "--out", str(run), "--config", str(config), "--epochs", "1",
            "--batch-size", "64", "--input-size", "8", "--num-workers", "0", "--device", "cpu",
        ),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    return run


def measure(run: Path, data: Path, out: Path, fmt: str, batch_size: int) -> dict[str, float]:
    """Wall time and peak RSS (MiB) of one embed child process."""
    command = sslcli(
        "embed", "--run", str(run), "--data", str(data), "--out", str(out), "--format", fmt,
        "--batch-size", str(batch_size), "--num-workers", "0", "--device", "cpu",
    )  # fmt: skip
    started = time.perf_counter()
    child = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"}
    )
    _, stderr = child.stderr.read(), child.stderr.close()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"embed failed: {' '.join(command)}\n{stderr.decode(errors='replace')}")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"seconds": seconds, "peak_mib": usage.ru_maxrss / 1024, "out_mib": size / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--formats", nargs="+", choices=["npy", "parquet"], default=["npy", "parquet"])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--workdir", type=Path, help="Keep corpora, run and outputs here (default: a temp dir)."
    )
    args = parser.parse_args()

    base = args.workdir or Path(tempfile.mkdtemp(prefix="bench_embed_memory_"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        originals = write_images(base / "images", np.random.default_rng(0))
        run = pretrain(base, base / "images")
        rows = []
        for items in args.sizes:
            data = corpus(base, items, originals)
            for fmt in args.formats:
                out = base / f"out_{items}_{fmt}"
                shutil.rmtree(out, ignore_errors=True)
                rows.append((items, fmt, measure(run, data, out, fmt, args.batch_size)))
                shutil.rmtree(out, ignore_errors=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(base, ignore_errors=True)

    print(
        f"embed peak RSS ({datetime.date.today()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"ResNet-10 512-d on 8x8 PNGs, --batch-size {args.batch_size}, --num-workers 0, CPU)"
    )
    first = {fmt: m["peak_mib"] for items, fmt, m in rows if items == args.sizes[0]}
    print(
        f"{'items':>8} {'format':>8} {'peak RSS MiB':>13} {'vs first':>9} {'output MiB':>11} {'items/s':>9}"
    )
    for items, fmt, m in rows:
        print(
            f"{items:>8} {fmt:>8} {m['peak_mib']:>13.1f} {m['peak_mib'] - first[fmt]:>+9.1f} "
            f"{m['out_mib']:>11.1f} {items / m['seconds']:>9.0f}"
        )


if __name__ == "__main__":
    main()
