"""Registers, spills and shared memory of the InfoNCE kernels compiled for an H100 (sm_90), no GPU needed.

Compiles the forward and backward kernels to PTX with Triton and runs the ``ptxas`` that ships with
Triton (``-v``) at D = 128 ... 1024 in bf16 and fp32, each in the first tile shape autotune offers
there (the fp32 dots in tf32x3). Prints one line per case; asserts nothing.

    python benchmarks/kernel_registers.py      # do not set TRITON_INTERPRET
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "kernels"))
from _cuda_compile_worker import D_SIZES, KERNELS, info_nce_case  # noqa: E402  (sm_90 signatures)
from sslcli.kernels.info_nce_launch import (
    d_chunks,  # noqa: E402
    tile_shapes,  # noqa: E402
)

PTXAS = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"


def ptxas_report(kernel, signature: dict, constexprs: dict, options: dict) -> str:
    fn = kernel._jit()
    source = ASTSource(
        fn=fn,
        signature=signature | dict.fromkeys(constexprs, "constexpr"),
        constexprs={(fn.arg_names.index(key),): value for key, value in constexprs.items()},
    )
    compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32), options=options)
    with tempfile.TemporaryDirectory() as tmp:
        ptx = Path(tmp, "kernel.ptx")
        ptx.write_text(compiled.asm["ptx"])
        run = subprocess.run(
            [str(PTXAS), "-arch=sm_90a", "-v", str(ptx), "-o", os.devnull], capture_output=True, text=True
        )
    lines = [
        line.split("info    :")[-1].strip()
        for line in (run.stdout + run.stderr).splitlines()
        if "spill" in line or "registers" in line
    ]
    return f"shared {compiled.metadata.shared} B | " + " | ".join(lines)


def main() -> None:
    print(f"Triton {triton.__version__}, ptxas from {PTXAS}")
    for d in D_SIZES:
        for dtype, size in (("bf16", 2), ("fp32", 4)):
            shape = tile_shapes(sum(d_chunks(d)), size)[0]
            for kernel in KERNELS:
                _, signature, constexprs, options = case = info_nce_case(kernel, d, dtype, shape)
                tile = f"{shape[0]}x{shape[1]} {constexprs['PRECISION']} stages {shape[3]}"
                print(f"{kernel} D={d} {dtype} {tile}: {ptxas_report(*case)}", flush=True)


if __name__ == "__main__":
    main()
