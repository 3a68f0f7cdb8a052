"""Launching the InfoNCE kernels of ``info_nce_tiles``: the tile shapes autotune may pick on CUDA, the
tile widths of D, the splits of each row block's loop over several programs, and the buffers of the
splits' partial results.

Every launch indexes rows with int32 offsets; ``check_int32_offsets`` refuses sizes past that bound.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from sslcli.kernels._triton import LazyKernel, cdiv, config, dot_precision
from sslcli.kernels.info_nce_tiles import HELPERS, backward_kernel, combine_kernel, forward_kernel

INT32_LIMIT = 2**31
WIDEST = 1024  # widest padded D with a tile that fits; wider runs the reference


def tile_shapes(width: int, element_size: int) -> list[tuple[int, int, int, int]]:
    """CUDA autotune space (BLOCK_M, BLOCK_N, warps, stages) for similarity tiles ``width`` columns wide
    (D's head plus tail chunk) of ``element_size``-byte inputs. A tile stages about (BLOCK_M + BLOCK_N)
    x width elements per pipeline stage in shared memory, more for fp32's tf32x3 dots (their split
    operands); every shape offered fits an H100 SM's 227 KiB (``tests/kernels/test_cuda_compile.py``
    compiles each one for sm_90 at D = 128, 256, 512, 768, 1024). Empty past WIDEST: nothing fits."""
    if width > WIDEST:
        return []
    if element_size >= 4:
        if width <= 128:
            return [(64, 64, 4, 2), (64, 32, 4, 2), (32, 64, 4, 2), (128, 32, 8, 2)]
        if width <= 256:
            return [(32, 32, 4, 2), (64, 32, 4, 1)]
        if width <= 512:
            return [(16, 32, 4, 1), (32, 16, 4, 1), (32, 32, 4, 1)]
        return [(16, 16, 4, 1), (16, 32, 4, 1)] if width <= 768 else [(16, 16, 4, 1)]
    if width <= 128:
        return [(128, 64, 4, 3), (128, 64, 8, 3), (64, 64, 4, 3), (64, 128, 4, 3), (128, 32, 4, 4)]
    if width <= 256:
        return [(64, 64, 4, 2), (64, 32, 4, 3), (128, 32, 8, 3)]
    return [(32, 32, 4, 1), (64, 32, 8, 1)] if width <= 768 else [(32, 32, 4, 1), (16, 32, 4, 1)]


def tile_configs(width: int, element_size: int) -> list:
    """``tile_shapes`` as Triton configs."""
    return [config(w, s, BLOCK_M=bm, BLOCK_N=bn) for bm, bn, w, s in tile_shapes(width, element_size)]


TILES = {"BLOCK_M": 64, "BLOCK_N": 64}  # the interpreter: few, large programs run fastest
KEY = ["M_BUCKET", "C_BUCKET", "D"]  # sizes bucketed by powers of two: a new batch size reuses the tuning
FORWARD = LazyKernel(forward_kernel, TILES, tile_configs, key=KEY, helpers=HELPERS)
COMBINE = LazyKernel(combine_kernel, {"BLOCK": 256}, lambda *_: [config(4, 1, BLOCK=256)], key=["M"])
BACKWARD = LazyKernel(backward_kernel, TILES, tile_configs, key=KEY, helpers=HELPERS)


class Rows(NamedTuple):
    """A matrix of rows (R, D), contiguous, and their inverse norms (R,) fp32 (one unused element
    without normalisation): the kernels multiply the rows as stored and scale by these."""

    x: torch.Tensor
    inverse: torch.Tensor


def rows_of(x: torch.Tensor, normalize: bool) -> Rows:
    """``x`` with 1 / max(|x_r|, 1e-12) per row (F.normalize's scale), one reduction in fp32."""
    x = x.contiguous()
    if not normalize or not len(x):
        return Rows(x, x.new_ones(1, dtype=torch.float32))
    norms = torch.linalg.vector_norm(x, dim=1, dtype=torch.float32)  # (R,)
    return Rows(x, norms.clamp_min(1e-12).reciprocal())


def fp16_weight_scale(columns: list[Rows], weights: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    """(1,) power of two the backward scales W / |y_c| by before rounding it for the tensor cores. In
    fp16: 2^14 over the largest upstream weight times the columns' largest inverse norm (|W| <= 2 g),
    so that the largest entry stays below 2^15 and weights 2^38 times smaller stay representable (fp16
    flushes below 2^-24); bf16 and fp32 have fp32's range: 1."""
    if dtype != torch.float16:
        return torch.ones(1, device=columns[0].x.device)
    inverse = torch.stack([c.inverse.max() for c in columns if len(c.x)]).max()
    weight = torch.stack([g.abs().max() for g in weights]).max()
    exponent = torch.floor(torch.log2(16384.0 / (inverse * weight))).clamp(-100.0, 100.0)  # 0 weights: inf
    return torch.exp2(exponent).reshape(1)


class Temperature(NamedTuple):
    """The temperature as the kernels read it, (1,) fp32 on the device, and the shape, dtype and device
    its gradient goes back in."""

    tau: torch.Tensor
    meta: tuple

    @staticmethod
    def of(temperature: torch.Tensor, device: torch.device) -> Temperature:
        tau = temperature.detach().to(device=device, dtype=torch.float32).reshape(1)
        return Temperature(tau, (temperature.shape, temperature.dtype, temperature.device))

    def grad(self, radial_sum: torch.Tensor) -> torch.Tensor:
        """dL/dt = -(1/t) sum_i u_i . dL/du_i, from that sum over the query role."""
        shape, dtype, device = self.meta
        return (-radial_sum / self.tau).reshape(shape).to(device=device, dtype=dtype)


class Queries(NamedTuple):
    """One set of queries: their indices and the forward's statistics, each (M,)."""

    positives: torch.Tensor  # int64 key index
    exclude: torch.Tensor  # int64 candidate left out, -1 for none
    lse: torch.Tensor  # fp32 log2-sum-exp of the logits (log2 units)
    onem: torch.Tensor  # fp32 1 - P_pos, exact as P_pos -> 1


def d_chunks(d: int) -> tuple[int, int]:
    """(head, tail) columns of D per tile: powers of two (``tl.arange`` needs them) covering D rounded
    up to the tensor cores' granularity of 16: 96 -> 64 + 32, 130 -> 128 + 16, 768 -> 512 + 256. The
    tail is 0 when one power of two covers D as tightly (24 -> 32, 200 -> 256)."""
    padded = -(-d // 16) * 16
    whole = 1 << (padded - 1).bit_length()  # one power of two
    head = max(16, 1 << (padded.bit_length() - 1))
    tail = 0 if padded == head else max(16, 1 << (padded - head - 1).bit_length())
    return (whole, 0) if head + tail >= whole else (head, tail)


def bucket(n: int) -> int:
    """``n`` rounded up to a power of two: the autotune key, so a new batch size reuses the tuning."""
    return 1 << max(0, n - 1).bit_length()


def splits(rows: int, loop_len: int, x: torch.Tensor) -> int:
    """Programs per block of rows along the loop dimension: enough to give every SM two programs when the
    row blocks alone are too few (M up to about 32k in 128-row blocks on a 132-SM GPU), each looping
    over at least 128 entries; their partial results are combined afterwards. The grid is fixed
    before autotune picks BLOCK_M, so the blocks are counted at the tallest shape offered: a shorter
    one only splits more than needed. The interpreter splits too (up to 4), so that the tests run
    the split path."""
    most = max(1, cdiv(loop_len, 128))
    if not x.is_cuda:
        return min(most, 4)
    tallest = max(shape[0] for shape in tile_shapes(sum(d_chunks(x.shape[1])), x.element_size()))
    sms = torch.cuda.get_device_properties(x.device).multi_processor_count
    return max(1, min(most, cdiv(2 * sms, cdiv(rows, tallest))))


def check_int32_offsets(rows: int, candidates: int, d: int, parts: int = 1) -> None:
    """The kernels index with int32: every offset into the inputs and the (parts, rows, D) partials."""
    largest = max(rows * parts, candidates) * d
    if largest >= INT32_LIMIT:
        raise ValueError(
            f"info_nce kernels index with 32 bits: {largest} elements (rows x D) pass 2^31; split the batch"
        )


def tiles_fit(d: int, dtype: torch.dtype) -> bool:
    """Whether some tile for D columns of ``dtype`` fits in shared memory (else the reference runs)."""
    return bool(tile_shapes(sum(d_chunks(d)), dtype.itemsize))


def _meta(x: torch.Tensor, rows: int, candidates: int) -> dict:
    head, tail = d_chunks(x.shape[1])
    return {
        "BLOCK_D": head,
        "BLOCK_T": tail or 16,  # unused without TAIL
        "TAIL": tail > 0,
        "DOT_FP32": not x.is_cuda,
        "PRECISION": dot_precision(x.dtype),
        "M_BUCKET": bucket(rows),
        "C_BUCKET": bucket(candidates),
    }


def _variant(meta: dict, x: torch.Tensor) -> tuple[int, int]:
    return meta["BLOCK_D"] + meta["BLOCK_T"] * meta["TAIL"], x.element_size()


def forward(
    q: Rows,
    y: Rows,
    n: Rows,
    positives: torch.Tensor,
    exclude: torch.Tensor,
    tau: torch.Tensor,
    *,
    batch_negatives: bool,
    normalize: bool,
) -> tuple[Queries, torch.Tensor]:
    """The queries' statistics and losses (M,) in natural log, combined (``combine_kernel``) from each
    split's positive-anchored running max and sum."""
    m, d = q.x.shape
    candidates = len(y.x) + len(n.x)
    parts = splits(m, candidates, q.x)
    check_int32_offsets(m, candidates, d, parts)
    part_max, part_sum = torch.empty((2, parts, m), dtype=torch.float32, device=q.x.device)  # (S, M) each
    positive, lse, onem, losses = torch.empty((4, m), dtype=torch.float32, device=q.x.device)  # (M,) each
    meta = _meta(q.x, m, candidates)
    FORWARD.launch(
        lambda tiles: (cdiv(m, tiles["BLOCK_M"]), parts),
        q.x, y.x, n.x, q.inverse, y.inverse, n.inverse, positives, exclude, tau, part_max, part_sum, positive,
        m, len(y.x), len(n.x), d, cdiv(candidates, parts), **meta,
        HAS_NEG=len(n.x) > 0, BATCH_NEG=batch_negatives, NORMALIZE=normalize,
        on_cuda=q.x.is_cuda, variant=_variant(meta, q.x),
    )  # fmt: skip
    COMBINE.launch(
        lambda tiles: (cdiv(m, tiles["BLOCK"]),), part_max, part_sum, positive, lse, onem, losses, m,
        PARTS=parts, on_cuda=q.x.is_cuda,
    )  # fmt: skip
    return Queries(positives, exclude, lse, onem), losses


def backward(
    x: Rows,
    y: Rows,
    n: Rows,
    rows: tuple[Queries, torch.Tensor] | None,
    cols: tuple[Queries, torch.Tensor] | None,
    tau: torch.Tensor,
    *,
    batch_negatives: bool,
    normalize: bool,
    need_tau: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """dL/dx (in x's dtype) for rows x against columns y (then negatives n), from the rows as queries
    (``rows``: their statistics and upstream weights) and the columns as queries (``cols``), and
    the radial parts u_r . dL/du_r (M,) the temperature's gradient sums (``need_tau``)."""
    m, d = x.x.shape
    candidates = len(y.x) + len(n.x)
    row_stats, col_stats = (
        (*side[0], side[1].float().contiguous()) if side is not None else None for side in (rows, cols)
    )  # (positives, exclude, lse, onem, g) of each side's queries
    device = x.x.device
    parts = splits(m, candidates, x.x)
    check_int32_offsets(m, candidates, d, parts)
    partial_dtype = x.x.dtype if parts == 1 else torch.float32  # one split stores the gradient itself
    dx = torch.empty((parts, m, d), dtype=partial_dtype, device=device)  # (S, M, D)
    radial = torch.empty((parts, m) if need_tau else (1,), dtype=torch.float32, device=device)
    weights = [stats[-1] for stats in (row_stats, col_stats) if stats is not None]
    w_scale = fp16_weight_scale([y, n], weights, x.x.dtype)
    meta = _meta(x.x, m, candidates)
    BACKWARD.launch(
        lambda tiles: (cdiv(m, tiles["BLOCK_M"]), parts),
        x.x, y.x, n.x, x.inverse, y.inverse, n.inverse, tau, w_scale,
        *(row_stats or col_stats), *(col_stats or row_stats), dx, radial,
        m, len(y.x), len(n.x), d, cdiv(candidates, parts), **meta,
        HAS_NEG=len(n.x) > 0, BATCH_NEG=batch_negatives, DIRECT=rows is not None, TRANSPOSED=cols is not None,
        NORMALIZE=normalize, NEED_TAU=need_tau, on_cuda=x.x.is_cuda, variant=_variant(meta, x.x),
    )  # fmt: skip
    if parts == 1:  # stored in x's type already
        return dx[0], radial[0] if need_tau else None
    return dx.sum(dim=0).to(x.x.dtype), radial.sum(dim=0) if need_tau else None
