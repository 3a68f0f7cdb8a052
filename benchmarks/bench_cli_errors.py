"""Time to the answer for typos and listings: each command runs as a new ``sslcli`` process, the way
a user types it, and the table gives the median wall time of ``--repeats`` runs beside the time to
import torch alone (what the early checks in ``sslcli/cli/preflight.py`` avoid). Asserts nothing.

    python benchmarks/bench_cli_errors.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from rich.console import Console
from rich.table import Table

COMMANDS = [
    "pretrain --method nosuch --out {tmp}/run",
    "pretrain --data {tmp}/missing --out {tmp}/run",
    "pretrain --domain video --method avid --out {tmp}/run",
    "eval --run {tmp}/missing",
    "embed --run {tmp}/missing --data {tmp} --out {tmp}/emb",
    "export --run {tmp}/missing --format onnx",
    "methods",
    "domains",
    "--help",
]


def median_seconds(argv: list[str], repeats: int) -> tuple[float, int]:
    """(median wall seconds, last exit code) of running ``argv`` ``repeats`` times."""
    times, code = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        code = subprocess.run(argv, capture_output=True).returncode
        times.append(time.perf_counter() - start)
    return statistics.median(times), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sslcli = shutil.which("sslcli") or sys.exit("sslcli is not on PATH (pip install -e .)")
    table = Table(title=f"time to the answer, median of {args.repeats} ({datetime.date.today()})")
    for column in ("command", "exit", "seconds"):
        table.add_column(column)
    with tempfile.TemporaryDirectory() as tmp:
        for command in COMMANDS:
            seconds, code = median_seconds([sslcli, *command.format(tmp=tmp).split()], args.repeats)
            table.add_row(f"sslcli {command.format(tmp='TMP')}", str(code), f"{seconds:.2f}")
    seconds, _ = median_seconds([sys.executable, "-c", "import torch"], args.repeats)
    table.add_row("python -c 'import torch' (for scale)", "0", f"{seconds:.2f}")
    Console(width=120).print(table)
    python = sys.version.split()[0]
    print(f"{platform.machine()}, {os.cpu_count()} cores, python {python}")


if __name__ == "__main__":
    main()
