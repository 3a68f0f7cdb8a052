"""Every kernel compiles for an H100 (sm_90) even where no GPU is present, in every tile shape
autotune may offer at D = 128 ... 1024 in bf16 and fp32, within the SM's shared memory.

The interpreter runs the kernels' Python; this catches what only the compiler sees (types, layouts,
shared memory), so the CUDA path cannot rot on CPU-only CI. The compiler runs in a child process:
Triton cannot compile in a process that imported it in interpreter mode.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton")

WORKER = Path(__file__).with_name("_cuda_compile_worker.py")
D_SIZES = (128, 256, 512, 768, 1024)
OTHERS = [
    "info_nce_forward_d96",  # D = 96 as a 64-column head and a 32-column tail, not padded to 128
    "info_nce_backward_d96",
    "info_nce_backward_fp16",  # W scaled before rounding
    "info_nce_combine",  # the splits' statistics into lse, 1 - P_pos and the loss
    "info_nce_forward_moco",  # the other branches of the kernels' flags
    "info_nce_forward_no_negatives",
    "info_nce_backward_queries",
    "info_nce_backward_keys",
    "mae_mask_seeded",
    "mae_unshuffle",
    "mae_unshuffle_backward",
]


def offered_info_nce_tiles() -> list[str]:
    """Every (kernel, D, dtype, tile shape) autotune may pick for D in D_SIZES, named as the worker does."""
    from sslcli.kernels.info_nce_launch import d_chunks, tile_shapes

    names = []
    for d in D_SIZES:
        for dtype, size in (("bf16", 2), ("fp32", 4)):
            shapes = tile_shapes(sum(d_chunks(d)), size)
            assert shapes, f"no tile offered for D = {d} in {dtype}"  # the reference would run instead
            names += [
                f"info_nce_{kernel}_d{d}_{dtype}_{bm}x{bn}w{warps}"
                for bm, bn, warps, _ in shapes
                for kernel in ("forward", "backward")
            ]
    return names


def test_every_kernel_compiles_for_sm90():
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    run = subprocess.run([sys.executable, str(WORKER)], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    failed = [line for line in run.stdout.splitlines() if line.startswith("fail ")]
    assert not failed, failed
    compiled = {
        line.split()[1]: int(line.split()[2]) for line in run.stdout.splitlines() if line.startswith("ok ")
    }
    assert sorted(compiled) == sorted(offered_info_nce_tiles() + OTHERS)
    too_large = {name: shared for name, shared in compiled.items() if shared > 227 * 1024}
    assert not too_large, too_large  # each must fit an H100 SM, or autotune ends in OutOfResources
