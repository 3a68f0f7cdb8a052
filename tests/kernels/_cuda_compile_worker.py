"""Compile every kernel for an H100 (sm_90) without a GPU; run by test_cuda_compile.py.

Runs in its own process so that Triton is imported in compiled mode (no TRITON_INTERPRET).
Prints one line per kernel: "ok NAME SHARED_BYTES", or "fail NAME ERROR" (the run goes on).
Arguments, if any, are name prefixes that pick a subset.
"""

import sys

import triton
from sslcli.kernels import info_nce_launch, mae_masking_tiles
from sslcli.kernels.info_nce_launch import d_chunks, tile_shapes
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

I32 = "i32"
D_SIZES = (128, 256, 512, 768, 1024)
DTYPES = {"bf16": 2, "fp32": 4}  # element sizes
INDEX_ARGS = ["M", "K", "Q", "D", "SPLIT_LEN", "M_BUCKET", "C_BUCKET"]
FORWARD_SIGNATURE = (
    dict.fromkeys(["q_ptr", "y_ptr", "n_ptr"], "*{dtype}")
    | dict.fromkeys(["q_inverse_ptr", "y_inverse_ptr", "n_inverse_ptr"], "*fp32")
    | dict.fromkeys(["pos_ptr", "excl_ptr"], "*i64")
    | dict.fromkeys(["tau_ptr", "max_ptr", "sum_ptr", "positive_ptr"], "*fp32")
    | dict.fromkeys(INDEX_ARGS, I32)
)
BACKWARD_SIGNATURE = (
    dict.fromkeys(["x_ptr", "y_ptr", "n_ptr"], "*{dtype}")
    | dict.fromkeys(["x_inverse_ptr", "y_inverse_ptr", "n_inverse_ptr", "tau_ptr"], "*fp32")
    | {"w_scale_ptr": "*fp32"}
    | dict.fromkeys(["pos_ptr", "excl_ptr", "cpos_ptr", "cexcl_ptr"], "*i64")
    | dict.fromkeys(["lse_ptr", "onem_ptr", "g_ptr", "clse_ptr", "conem_ptr", "cg_ptr"], "*fp32")
    | dict.fromkeys(["dx_ptr", "radial_ptr"], "*fp32")
    | dict.fromkeys(INDEX_ARGS, I32)
)
# the costliest variant of each kernel: negatives, both roles, the temperature's gradient
FORWARD_FLAGS = {"HAS_NEG": True, "BATCH_NEG": True, "NORMALIZE": True, "DOT_FP32": False}
BACKWARD_FLAGS = FORWARD_FLAGS | {"DIRECT": True, "TRANSPOSED": True, "NEED_TAU": True}
VARIANTS = [
    ("forward_moco", "forward", {"BATCH_NEG": False, "NORMALIZE": False}),  # MoCo: keys are no negatives
    ("forward_no_negatives", "forward", {"HAS_NEG": False}),
    ("backward_queries", "backward", {"TRANSPOSED": False, "NEED_TAU": False, "BATCH_NEG": False}),
    ("backward_keys", "backward", {"DIRECT": False, "HAS_NEG": False, "NORMALIZE": False}),
]
KERNELS = {"forward": info_nce_launch.FORWARD, "backward": info_nce_launch.BACKWARD}
SIGNATURES = {"forward": (FORWARD_SIGNATURE, FORWARD_FLAGS), "backward": (BACKWARD_SIGNATURE, BACKWARD_FLAGS)}
MASK_SCALARS = [
    "stride_b",
    "stride_t",
    "stride_c",
    "stride_h",
    "stride_w",
    "L",
    "Wp",
    "keep",
    "G",
    "C",
    "P",
    "p",
    "t",
]


def info_nce_case(kernel: str, d: int, dtype: str, shape: tuple) -> tuple:
    """(kernel, signature, constexprs, launch options) of one InfoNCE kernel at one D and tile shape."""
    head, tail = d_chunks(d)
    bm, bn, warps, stages = shape
    precision = "tf32x3" if dtype == "fp32" else "tf32"
    tile = {"BLOCK_D": head, "BLOCK_T": tail or 16, "TAIL": tail > 0, "BLOCK_M": bm, "BLOCK_N": bn}
    signature, base = SIGNATURES[kernel]
    typed = {arg: kind.format(dtype=dtype) for arg, kind in signature.items()}
    return (
        KERNELS[kernel],
        typed,
        base | tile | {"PRECISION": precision},
        {"num_warps": warps, "num_stages": stages},
    )


def info_nce_cases() -> dict:
    """Forward and backward at every D of D_SIZES in bf16 and fp32 with every tile shape autotune may
    offer there; D = 96 (a 64-column head and a 32-column tail); fp16."""
    cases = {}
    for d in D_SIZES:
        for dtype, size in DTYPES.items():
            for shape in tile_shapes(sum(d_chunks(d)), size):
                for kernel in KERNELS:
                    cases[case_name(kernel, d, dtype, shape)] = info_nce_case(kernel, d, dtype, shape)
    for kernel in KERNELS:
        cases[f"info_nce_{kernel}_d96"] = info_nce_case(kernel, 96, "bf16", tile_shapes(96, 2)[0])
    cases["info_nce_backward_fp16"] = info_nce_case("backward", 128, "fp16", tile_shapes(128, 2)[0])
    first = tile_shapes(128, 2)[0]
    for name, kernel, flags in VARIANTS:  # the other branches of the constexpr flags
        forward_or_backward, signature_of, constexprs, launch = info_nce_case(kernel, 128, "bf16", first)
        cases[f"info_nce_{name}"] = (forward_or_backward, signature_of, constexprs | flags, launch)
    cases["info_nce_combine"] = (
        info_nce_launch.COMBINE,
        dict.fromkeys(["max_ptr", "sum_ptr", "positive_ptr", "lse_ptr", "onem_ptr", "loss_ptr"], "*fp32")
        | {"M": I32},
        {"PARTS": 4, "BLOCK": 256},
    )
    return cases


def case_name(kernel: str, d: int, dtype: str, shape: tuple) -> str:
    return f"info_nce_{kernel}_d{d}_{dtype}_{shape[0]}x{shape[1]}w{shape[2]}"


CASES = {
    **info_nce_cases(),
    "mae_mask_seeded": (
        mae_masking_tiles.MASK,
        {
            "v_ptr": "*bf16",
            "noise_ptr": "*u8",
            "out_ptr": "*bf16",
            "mask_ptr": "*u8",
            "ids_ptr": "*i64",
            "seed": I32,
        }
        | dict.fromkeys(MASK_SCALARS, I32),
        {"USE_NOISE": False, "BLOCK_L": 16, "BLOCK_C": 64, "BLOCK_P": 256},
    ),
    "mae_unshuffle": (
        mae_masking_tiles.UNSHUFFLE,
        {"vis_ptr": "*bf16", "token_ptr": "*bf16", "ids_ptr": "*i64", "out_ptr": "*bf16"}
        | dict.fromkeys(["L", "keep", "G", "E"], I32),
        {"BLOCK_L": 16, "BLOCK_E": 128},
    ),
    "mae_unshuffle_backward": (
        mae_masking_tiles.UNSHUFFLE_BACKWARD,
        {"grad_ptr": "*bf16", "ids_ptr": "*i64", "grad_vis_ptr": "*bf16", "token_sum_ptr": "*fp32"}
        | dict.fromkeys(["L", "keep", "G", "E"], I32),
        {"BLOCK_L": 16, "BLOCK_E": 128},
    ),
}


def compile_for_sm90(name: str) -> int:
    """Shared memory (bytes) of the kernel ``name`` compiled to a cubin for sm_90."""
    kernel, signature, constexprs, *launch = CASES[name]
    fn = kernel._jit()  # a JITFunction here: this process never set TRITON_INTERPRET
    source = ASTSource(
        fn=fn,
        signature=signature | dict.fromkeys(constexprs, "constexpr"),
        constexprs={(fn.arg_names.index(key),): value for key, value in constexprs.items()},
    )
    options = launch[0] if launch else {"num_warps": 4}
    compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32), options=options)
    assert compiled.asm["cubin"]
    return compiled.metadata.shared


if __name__ == "__main__":
    for name in CASES:
        if sys.argv[1:] and not name.startswith(tuple(sys.argv[1:])):  # optional name prefixes: a subset
            continue
        try:
            print("ok", name, compile_for_sm90(name), flush=True)
        except Exception as error:  # noqa: BLE001  (reported, and the test fails on it)
            print("fail", name, type(error).__name__, str(error).splitlines()[0][:200], flush=True)
