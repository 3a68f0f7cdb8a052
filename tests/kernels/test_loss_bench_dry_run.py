"""The per-op loss benchmarks run end to end on the CPU (``DRY=1``): the table of every contender, and
the FLOP the fused kernels execute per forward+backward, counted from their tile products."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


@pytest.mark.parametrize(
    ("script", "executed"),
    [
        ("bench_ntxent.py", ["6.00 M^2 D"]),
        ("bench_info_nce.py", ["10.00 M^2 D", "6.00 M (M + Q) D"]),  # CPC's loss, MoCo's queue loss
        ("bench_cross_modal.py", ["12.00 M^2 D"]),
    ],
)
def test_the_benchmark_dry_run_prints_its_table_and_the_executed_flop(script, executed):
    env = {**os.environ, "DRY": "1", "TRITON_INTERPRET": "1", "COLUMNS": "200"}
    run = subprocess.run(
        [sys.executable, script], cwd=BENCHMARKS, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for count in executed:
        assert f"the fused kernels execute {count} FLOP per forward+backward" in run.stdout, run.stdout
    assert "sslcli fused" in run.stdout and "eager" in run.stdout, run.stdout
