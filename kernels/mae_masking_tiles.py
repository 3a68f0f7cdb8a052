"""The Triton kernels of ``sslcli.kernels.mae_masking`` (see its docstring): rank and copy the visible
patches, the decoder-side un-shuffle and its backward, and the block sizes autotune may pick on CUDA.
"""

from __future__ import annotations

from sslcli.kernels._triton import LazyKernel, config

tl = None  # triton.language, bound by LazyKernel on the first launch (see _triton.py)


# ---------------------------------------------------------------------------------------------------
# Triton kernels
# ---------------------------------------------------------------------------------------------------


def _mask_kernel(
    v_ptr,
    noise_ptr,
    out_ptr,
    mask_ptr,
    ids_ptr,
    seed,
    stride_b,
    stride_t,
    stride_c,
    stride_h,
    stride_w,
    L,
    Wp,
    keep,
    G,
    C,
    P,
    p,
    t,
    USE_NOISE: tl.constexpr,
    BLOCK_L: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_P: tl.constexpr,
):
    """Program (b, block of patches): rank by counting smaller noise, store mask/ids, copy kept patches."""
    b = tl.program_id(0).to(tl.int64)
    patch = tl.program_id(1) * BLOCK_L + tl.arange(0, BLOCK_L)  # (BL,)
    patch_ok = patch < L
    if USE_NOISE:
        mine = tl.load(noise_ptr + b * L + patch, mask=patch_ok, other=0.0)
    else:
        mine = tl.rand(seed, (b * L + patch).to(tl.int32))
    rank = tl.zeros([BLOCK_L], dtype=tl.int32)
    for start in range(0, L, BLOCK_C):
        other = start + tl.arange(0, BLOCK_C)  # (BC,)
        if USE_NOISE:
            theirs = tl.load(noise_ptr + b * L + other, mask=other < L, other=0.0)
        else:
            theirs = tl.rand(seed, (b * L + other).to(tl.int32))
        before = (theirs[None, :] < mine[:, None]) | (
            (theirs[None, :] == mine[:, None]) & (other[None, :] < patch[:, None])
        )
        rank += tl.sum((before & (other < L)[None, :]).to(tl.int32), 1)
    tl.store(ids_ptr + b * L + patch, rank.to(tl.int64), mask=patch_ok)
    tl.store(mask_ptr + b * L + patch, (rank >= keep).to(tl.uint8), mask=patch_ok)
    kept = patch_ok & (rank < keep)
    corner = (patch // Wp * p) * stride_h + (patch % Wp * p) * stride_w  # (BL,) top-left pixel offset
    for g in range(0, G):
        dst_row = (b * G + g) * keep + rank  # (BL,)
        for e_start in range(0, P, BLOCK_P):
            e = e_start + tl.arange(0, BLOCK_P)  # (BP,) element index in (t, p, q, c) order
            c = e % C
            q = e // C % p
            r = e // (C * p) % p
            frame = g * t + e // (C * p * p)
            offset = frame * stride_t + c * stride_c + r * stride_h + q * stride_w  # (BP,)
            both = kept[:, None] & (e < P)[None, :]
            vals = tl.load(v_ptr + b * stride_b + corner[:, None] + offset[None, :], mask=both)
            tl.store(out_ptr + dst_row[:, None] * P + e[None, :], vals, mask=both)


def _unshuffle_kernel(
    vis_ptr,
    token_ptr,
    ids_ptr,
    out_ptr,
    L,
    keep,
    G,
    E,
    BLOCK_L: tl.constexpr,
    BLOCK_E: tl.constexpr,
):
    """Program (b * G + g, block of patches): visible row of each patch's rank, or the mask token."""
    bg = tl.program_id(0).to(tl.int64)
    patch = tl.program_id(1) * BLOCK_L + tl.arange(0, BLOCK_L)  # (BL,)
    patch_ok = patch < L
    rank = tl.load(ids_ptr + bg // G * L + patch, mask=patch_ok, other=0)  # (BL,)
    kept = patch_ok & (rank < keep)
    for e_start in range(0, E, BLOCK_E):
        e = e_start + tl.arange(0, BLOCK_E)  # (BE,)
        e_ok = e < E
        rows = tl.load(
            vis_ptr + (bg * keep + rank)[:, None] * E + e[None, :], mask=kept[:, None] & e_ok[None, :]
        )
        token = tl.load(token_ptr + e, mask=e_ok)  # (BE,) already in the output dtype
        vals = tl.where(kept[:, None], rows, token[None, :])
        tl.store(
            out_ptr + (bg * L + patch)[:, None] * E + e[None, :], vals, mask=patch_ok[:, None] & e_ok[None, :]
        )


def _unshuffle_backward_kernel(
    grad_ptr,
    ids_ptr,
    grad_vis_ptr,
    token_sum_ptr,
    L,
    keep,
    G,
    E,
    BLOCK_L: tl.constexpr,
    BLOCK_E: tl.constexpr,
):
    """Program (b * G + g, block of E): route kept rows to their rank, sum the masked rows."""
    bg = tl.program_id(0).to(tl.int64)
    e = tl.program_id(1) * BLOCK_E + tl.arange(0, BLOCK_E)  # (BE,)
    e_ok = e < E
    token_sum = tl.zeros([BLOCK_E], dtype=tl.float32)
    for start in range(0, L, BLOCK_L):
        patch = start + tl.arange(0, BLOCK_L)  # (BL,)
        patch_ok = patch < L
        rank = tl.load(ids_ptr + bg // G * L + patch, mask=patch_ok, other=0)
        kept = patch_ok & (rank < keep)
        both = patch_ok[:, None] & e_ok[None, :]
        grad = tl.load(
            grad_ptr + (bg * L + patch)[:, None] * E + e[None, :], mask=both, other=0.0
        )  # (BL, BE)
        tl.store(
            grad_vis_ptr + (bg * keep + rank)[:, None] * E + e[None, :],
            grad,
            mask=kept[:, None] & e_ok[None, :],
        )
        token_sum += tl.sum(tl.where(kept[:, None], 0.0, grad.to(tl.float32)), 0)
    tl.store(token_sum_ptr + bg * E + e, token_sum, mask=e_ok)


def mask_configs() -> list:
    return [
        config(w, 1, BLOCK_L=bl, BLOCK_C=bc, BLOCK_P=bp)
        for bl, bc, bp, w in (
            (16, 64, 256, 4),
            (32, 64, 256, 4),
            (16, 128, 128, 4),
            (32, 32, 512, 8),
            (64, 64, 256, 8),
        )
    ]


def unshuffle_configs() -> list:
    return [
        config(w, 1, BLOCK_L=bl, BLOCK_E=be)
        for bl, be, w in ((16, 128, 4), (32, 128, 4), (16, 256, 4), (64, 64, 4), (32, 256, 8))
    ]


MASK = LazyKernel(
    _mask_kernel,
    {"BLOCK_L": 32, "BLOCK_C": 64, "BLOCK_P": 128},
    mask_configs,
    key=["L", "keep", "G", "P"],
    do_not_specialize=["seed"],
)
UNSHUFFLE = LazyKernel(
    _unshuffle_kernel, {"BLOCK_L": 16, "BLOCK_E": 32}, unshuffle_configs, key=["L", "keep", "E"]
)
UNSHUFFLE_BACKWARD = LazyKernel(
    _unshuffle_backward_kernel, {"BLOCK_L": 16, "BLOCK_E": 32}, unshuffle_configs, key=["L", "keep", "E"]
)
