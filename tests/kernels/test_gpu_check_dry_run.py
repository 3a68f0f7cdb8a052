"""``benchmarks/gpu_check.py`` runs end to end on the CPU (``DRY=1``), so the script handed to a GPU
machine for its short window is known to work before it gets there."""

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "gpu_check.py"


def test_the_gpu_check_dry_run_completes_with_every_section():
    env = {**os.environ, "DRY": "1", "TRITON_INTERPRET": "1"}
    run = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    sections = ("| check | result |", "| M | implementation |", "| masking |", "total ")
    sections += ("cross-modal InfoNCE, M=", "MoCo InfoNCE (queue", "| implementation | fwd ms |")
    for section in sections:
        assert section in run.stdout, run.stdout
    assert "bitwise deterministic | True" in run.stdout
    for case in ("MAE", "tube"):  # the fused masking and un-shuffle equal argsort + gather
        assert f"{case} masking / un-shuffle equal to argsort + gather | True / True" in run.stdout
