"""Registers, spills and shared memory of the InfoNCE kernels compiled for an H100 (sm_90), no GPU needed.

Compiles each kernel to PTX with Triton and runs the ``ptxas`` that ships with Triton (``-v``) for
bf16 tiles and for fp32 tiles in each dot precision. Prints one line per case; asserts nothing.

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
from _cuda_compile_worker import INFO_NCE_CASES  # noqa: E402  (the kernels' sm_90 signatures)

PTXAS = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
CASES = [("*bf16", "tf32", 64, 64, 3), ("*fp32", "ieee", 64, 64, 2), ("*fp32", "tf32x3", 64, 64, 2)]


def ptxas_report(kernel, signature: dict, constexprs: dict, stages: int) -> str:
    fn = kernel._jit()
    source = ASTSource(
        fn=fn,
        signature=signature | dict.fromkeys(constexprs, "constexpr"),
        constexprs={(fn.arg_names.index(key),): value for key, value in constexprs.items()},
    )
    compiled = triton.compile(
        source, target=GPUTarget("cuda", 90, 32), options={"num_warps": 4, "num_stages": stages}
    )
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
    for name, (kernel, signature, tile) in INFO_NCE_CASES.items():
        for dtype, precision, block_m, block_n, stages in CASES:
            types = {arg: dtype if kind == "*bf16" else kind for arg, kind in signature.items()}
            constexprs = {**tile, "PRECISION": precision, "BLOCK_M": block_m, "BLOCK_N": block_n}
            report = ptxas_report(kernel, types, constexprs, stages)
            print(f"{name} {dtype[1:]} {precision} {block_m}x{block_n} stages {stages}: {report}")


if __name__ == "__main__":
    main()
