"""Compile every kernel for an H100 (sm_90) without a GPU; run by test_cuda_compile.py.

Runs in its own process so that Triton is imported in compiled mode (no TRITON_INTERPRET).
Prints one line "ok NAME SHARED_BYTES" per kernel.
"""

import triton
from sslcli.kernels import info_nce_tiles, mae_masking_tiles
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

I32 = "i32"
INFO_NCE_TILE = {
    "BLOCK_M": 64,
    "BLOCK_N": 64,
    "BLOCK_D": 128,
    "BLOCK_T": 16,
    "TAIL": False,
    "BATCH_NEG": True,
}
INFO_NCE_TILE |= {"DOT_FP32": False, "PRECISION": "tf32"}
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
INFO_NCE_CASES = {
    "info_nce_forward": (
        info_nce_tiles.FORWARD,
        {"q_ptr": "*bf16", "k_ptr": "*bf16", "n_ptr": "*bf16", "pos_ptr": "*i64", "excl_ptr": "*i64"}
        | {"tau_ptr": "*fp32", "max_ptr": "*fp32", "sum_ptr": "*fp32", "positive_ptr": "*fp32"}
        | dict.fromkeys(["M", "K", "Q", "D", "SPLIT_LEN"], I32),
        INFO_NCE_TILE,
    ),
    "info_nce_backward_queries": (
        info_nce_tiles.BACKWARD_Q,
        {"q_ptr": "*bf16", "k_ptr": "*bf16", "n_ptr": "*bf16", "pos_ptr": "*i64", "excl_ptr": "*i64"}
        | {"tau_ptr": "*fp32", "lse_ptr": "*fp32", "g_ptr": "*fp32", "g_scale_ptr": "*fp32"}
        | {"partial_ptr": "*fp32"}
        | dict.fromkeys(["M", "K", "Q", "D", "SPLIT_LEN"], I32),
        INFO_NCE_TILE,
    ),
    "info_nce_backward_keys": (
        info_nce_tiles.BACKWARD_K,
        {"q_ptr": "*bf16", "k_ptr": "*bf16", "pos_ptr": "*i64", "excl_ptr": "*i64", "tau_ptr": "*fp32"}
        | {"lse_ptr": "*fp32", "g_ptr": "*fp32", "g_scale_ptr": "*fp32", "partial_ptr": "*fp32"}
        | dict.fromkeys(["M", "K", "D", "SPLIT_LEN"], I32),
        INFO_NCE_TILE,
    ),
}
CASES = {
    **INFO_NCE_CASES,
    **{  # every fp32 autotune config at D = 128 (tf32x3 dots)
        f"{name}_fp32_{tuned.kwargs['BLOCK_M']}x{tuned.kwargs['BLOCK_N']}": (
            kernel,
            {arg: "*fp32" if kind == "*bf16" else kind for arg, kind in signature.items()},
            {**tile, **tuned.kwargs, "PRECISION": "tf32x3"},
            {"num_warps": tuned.num_warps, "num_stages": tuned.num_stages},
        )
        for name, (kernel, signature, tile) in list(INFO_NCE_CASES.items())
        for tuned in info_nce_tiles.tile_configs(128, 4)
    },
    **{
        f"{name}_d96": (kernel, signature, {**tile, "BLOCK_D": 64, "BLOCK_T": 32, "TAIL": True})
        for name, (kernel, signature, tile) in list(INFO_NCE_CASES.items())
    },
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
        print("ok", name, compile_for_sm90(name), flush=True)
