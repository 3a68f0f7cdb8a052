"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR, as fused Triton kernels.

Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020.
For M = 2N rows z (L2-normalised) and temperature t, row i's positive is p(i) = (i + N) mod M:

    loss_i = log sum_{j != i} exp(z_i . z_j / t) - z_i . z_p(i) / t,   loss = mean_i loss_i

The Triton path never materialises the M x M similarity matrix. Like FlashAttention (Dao et al.,
"FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness", NeurIPS 2022) the
forward streams similarity tiles through an online log-sum-exp and keeps only the normalised
embeddings and one fp32 statistic per row (plus the row norms): O(M * D) extra memory. The backward
recomputes the tiles. With upstream weights g and P_kj = softmax_j(s_kj),

    dL/dz_k = (1/t) [sum_j W_kj z_j - (g_k + g_p(k)) z_p(k)],   W_kj = g_k P_kj + g_j P_jk,

and W is symmetric, so one row-stationary pass yields every row's gradient without atomics
(deterministic), chained through the L2 normalisation: dx = (dz - z (z . dz)) / |x|. The positive's
term is folded into W in fp32 before W meets the tensor cores in half precision, so that the
gradient stays accurate as P_pos -> 1 (a converging run). The loss
depends on z and t only through z z^T / t, hence dL/dt = -sum_k z_k . dz_k / (2t) comes for free.

Under torch.distributed the embeddings of all ranks are gathered (rank-major, each rank's two views
kept together) and each rank computes the loss of its own 2N rows against all of them, as Lightly's
``NTXentLoss(gather_distributed=True)`` does: the mean of the ranks' losses is the single-process loss
of the concatenated batch, and after DDP averages the gradients training matches that single process.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sslcli.kernels._triton import LazyKernel, cdiv, config, dot_precision, triton_available
from sslcli.kernels.dispatch import use_triton
from sslcli.kernels.distributed import all_gather_rows, distributed_world, gather_with_grad

tl = None  # triton.language, bound by LazyKernel on the first launch (see _triton.py)

_TRITON_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def nt_xent_reference(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    temperature: float | torch.Tensor = 0.1,
    *,
    gather_distributed: bool = True,
) -> torch.Tensor:
    """Plain-torch NT-Xent over the 2N x 2N similarity matrix; the CPU path and the test oracle."""
    _check_pair(z_a, z_b)
    rank, world = distributed_world(gather_distributed)
    x = torch.cat([z_a, z_b])  # (2n, D) this rank's rows
    if world > 1:
        x = gather_with_grad(x)  # (M, D) rank-major
    z = F.normalize(x.float(), dim=1)  # (M, D)
    m_local = 2 * z_a.shape[0]
    rows = rank * m_local + torch.arange(m_local, device=z.device)  # (2n,) global row ids
    logits = z[rows] @ z.T / temperature  # (2n, M)
    self_mask = torch.arange(z.shape[0], device=z.device)[None, :] == rows[:, None]  # (2n, M)
    logits = logits.masked_fill(self_mask, float("-inf"))
    return F.cross_entropy(logits, rows.roll(z_a.shape[0]))  # p(i) = (i + N) mod 2N within the rank


def nt_xent(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    temperature: float | torch.Tensor = 0.1,
    *,
    gather_distributed: bool = True,
) -> torch.Tensor:
    """NT-Xent loss of two views' projections ``z_a``, ``z_b`` (N, D) -> fp32 scalar (mean over 2N rows).

    Rows are L2-normalised inside. ``temperature`` may be a float or a (learnable) tensor with one
    element; it is read on the device, so changing it neither recompiles nor synchronises. Runs the
    fused Triton kernels on CUDA (see ``sslcli.kernels.dispatch``), the reference elsewhere. With
    ``gather_distributed`` and an initialised process group, negatives come from every rank.
    """
    _check_pair(z_a, z_b)
    dtype = torch.promote_types(z_a.dtype, z_b.dtype)
    if not (use_triton(z_a) and triton_available() and dtype in _TRITON_DTYPES):
        return nt_xent_reference(z_a, z_b, temperature, gather_distributed=gather_distributed)
    if not isinstance(temperature, torch.Tensor):
        temperature = torch.full((1,), float(temperature), dtype=torch.float32, device=z_a.device)
    rank, world = distributed_world(gather_distributed)
    return _NTXent.apply(z_a, z_b, temperature, rank, world)


def _check_pair(z_a: torch.Tensor, z_b: torch.Tensor) -> None:
    if z_a.shape != z_b.shape or z_a.ndim != 2 or z_a.shape[0] < 1:
        raise ValueError(
            f"nt_xent expects two (N, D) tensors of equal shape with N >= 1, "
            f"got {tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )


class _NTXent(torch.autograd.Function):
    """Fused NT-Xent: saves z (M, D), 1/|x| (2n,) and the per-row log2-sum-exp (M,)."""

    @staticmethod
    def forward(ctx, z_a, z_b, temperature, rank, world):
        n = z_a.shape[0]
        dtype = torch.promote_types(z_a.dtype, z_b.dtype)
        tau = temperature.detach().to(device=z_a.device, dtype=torch.float32).reshape(1)  # (1,)
        z_local, rnorm = _normalize(z_a.to(dtype).contiguous(), z_b.to(dtype).contiguous())  # (2n, D), (2n,)
        z = all_gather_rows(z_local) if world > 1 else z_local  # (M, D)
        lse_local, loss_rows = _forward(z, tau, row0=rank * 2 * n, m_local=2 * n, half=n)  # (2n,), (2n,)
        lse = all_gather_rows(lse_local) if world > 1 else lse_local  # (M,)
        ctx.save_for_backward(z, rnorm, lse, tau)
        ctx.geometry = (rank, world, n)
        ctx.dtypes = (z_a.dtype, z_b.dtype)
        ctx.tau_meta = (temperature.shape, temperature.dtype, temperature.device)
        return loss_rows.mean()

    @staticmethod
    def backward(ctx, grad):
        z, rnorm, lse, tau = ctx.saved_tensors
        rank, world, n = ctx.geometry
        g, g_scale = _row_weights(grad, 2 * n, world)  # (M,), (1,)
        dx, rowdot = _backward(z, tau, lse, g, g_scale, rnorm, row0=rank * 2 * n, half=n)  # (2n, D), (2n,)
        dtau = None
        if ctx.needs_input_grad[2]:
            shape, dtype, device = ctx.tau_meta
            dtau = (-rowdot.sum() / (2 * tau)).reshape(shape).to(device=device, dtype=dtype)
        return dx[:n].to(ctx.dtypes[0]), dx[n:].to(ctx.dtypes[1]), dtau, None, None


def _row_weights(grad: torch.Tensor, m_local: int, world: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Upstream weight g_i of every row's loss (each rank averages its own m_local rows), as g / s and s.

    Dividing by s = max |g_i| keeps W_kj / s <= 2, so the half-precision copy of W that feeds the
    tensor cores neither underflows (g ~ 1/M times P ~ 1/M) nor overflows under loss scaling.
    """
    grad = grad.detach().float().reshape(1)  # (1,)
    if world > 1:
        grad = all_gather_rows(grad)  # (world,) every rank's upstream gradient
    g = (grad / m_local).repeat_interleave(m_local)  # (M,)
    scale = g.abs().max().clamp_min(torch.finfo(torch.float32).tiny).reshape(1)  # (1,)
    return (g / scale).contiguous(), scale


def _block_d(d: int) -> int:
    """Columns of D handled per tile: a power of two, at least tl.dot's minimum of 16."""
    return max(16, 1 << (d - 1).bit_length())


def _normalize(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of [a; b] (n, D) each -> unit rows (2n, D) in their dtype, and 1 / max(|x|, 1e-12) fp32."""
    n, d = a.shape
    z = torch.empty((2 * n, d), dtype=a.dtype, device=a.device)  # (2n, D)
    rnorm = torch.empty(2 * n, dtype=torch.float32, device=a.device)  # (2n,)
    block_d = _block_d(d)
    args = (a, b, z, rnorm, n, d, a.stride(0), b.stride(0))
    _NORMALIZE.launch(
        lambda meta: (cdiv(2 * n, meta["BLOCK_M"]),),
        *args,
        BLOCK_D=block_d,
        on_cuda=a.is_cuda,
        variant=(block_d,),
    )
    return z, rnorm


def _forward(z: torch.Tensor, tau: torch.Tensor, row0: int, m_local: int, half: int):
    """Per-row log2-sum-exp (m_local,) and loss (m_local,) of rows [row0, row0 + m_local) of z."""
    m, d = z.shape
    lse = torch.empty(m_local, dtype=torch.float32, device=z.device)  # (2n,)
    loss = torch.empty(m_local, dtype=torch.float32, device=z.device)  # (2n,)
    block_d = _block_d(d)
    args = (z, tau, lse, loss, row0, m_local, m, half, d)
    consts = {"BLOCK_D": block_d, "DOT_FP32": not z.is_cuda, "PRECISION": dot_precision(z.dtype)}
    _FORWARD.launch(
        lambda meta: (cdiv(m_local, meta["BLOCK_M"]),), *args, **consts, on_cuda=z.is_cuda, variant=(block_d,)
    )
    return lse, loss


def _backward(z, tau, lse, g, g_scale, rnorm, row0: int, half: int):
    """Gradient w.r.t. the un-normalised rows of this rank (2n, D) and the row dots z_k . dz_k (2n,)."""
    m, d = z.shape
    m_local = rnorm.shape[0]
    dx = torch.empty((m_local, d), dtype=z.dtype, device=z.device)  # (2n, D)
    rowdot = torch.empty(m_local, dtype=torch.float32, device=z.device)  # (2n,)
    block_d = _block_d(d)
    args = (z, tau, lse, g, g_scale, rnorm, dx, rowdot, row0, m_local, m, half, d)
    consts = {"BLOCK_D": block_d, "DOT_FP32": not z.is_cuda, "PRECISION": dot_precision(z.dtype)}
    _BACKWARD.launch(
        lambda meta: (cdiv(m_local, meta["BLOCK_M"]),), *args, **consts, on_cuda=z.is_cuda, variant=(block_d,)
    )
    return dx, rowdot


# ---------------------------------------------------------------------------------------------------
# Triton kernels. Logits are kept in log2 units (s * log2(e)) so the exponentials are exp2.
# DOT_FP32 upcasts tiles before tl.dot: the interpreter's low-precision dot is not trustworthy.
# ---------------------------------------------------------------------------------------------------


def _normalize_kernel(
    a_ptr,
    b_ptr,
    z_ptr,
    rnorm_ptr,
    n,
    D,
    stride_a,
    stride_b,
    BLOCK_M: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # (BM,)
    dims = tl.arange(0, BLOCK_D)  # (BD,)
    dim_ok = dims[None, :] < D
    in_a = (rows < n)[:, None] & dim_ok
    in_b = ((rows >= n) & (rows < 2 * n))[:, None] & dim_ok
    x_a = tl.load(a_ptr + rows[:, None] * stride_a + dims[None, :], mask=in_a, other=0.0)
    x_b = tl.load(b_ptr + (rows - n)[:, None] * stride_b + dims[None, :], mask=in_b, other=0.0)
    x = x_a.to(tl.float32) + x_b.to(tl.float32)  # (BM, BD)
    rnorm = 1.0 / tl.maximum(tl.sqrt(tl.sum(x * x, 1)), 1e-12)  # (BM,)
    z = x * rnorm[:, None]
    tl.store(z_ptr + rows[:, None] * D + dims[None, :], z.to(z_ptr.dtype.element_ty), mask=in_a | in_b)
    tl.store(rnorm_ptr + rows, rnorm, mask=rows < 2 * n)


def _forward_kernel(
    z_ptr,
    tau_ptr,
    lse_ptr,
    loss_ptr,
    row0,
    m_local,
    M,
    half,
    D,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    DOT_FP32: tl.constexpr,
    PRECISION: tl.constexpr,
):
    local = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # (BM,)
    rows = row0 + local  # (BM,) global row ids
    row_ok = local < m_local
    dims = tl.arange(0, BLOCK_D)  # (BD,)
    dim_ok = dims[None, :] < D
    z_i = tl.load(z_ptr + rows[:, None] * D + dims[None, :], mask=row_ok[:, None] & dim_ok, other=0.0)
    if DOT_FP32:
        z_i = z_i.to(tl.float32)
    scale = 1.4426950408889634 / tl.load(tau_ptr)  # log2(e) / t
    m_i = tl.full([BLOCK_M], -1.0e30, dtype=tl.float32)  # running max (log2 units)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)  # running sum of exp2(s - m_i)
    for start in range(0, M, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)  # (BN,)
        z_j = tl.load(z_ptr + cols[:, None] * D + dims[None, :], mask=(cols < M)[:, None] & dim_ok, other=0.0)
        if DOT_FP32:
            z_j = z_j.to(tl.float32)
        s = tl.dot(z_i, tl.trans(z_j), input_precision=PRECISION) * scale  # (BM, BN)
        s = tl.where((cols[None, :] < M) & (cols[None, :] != rows[:, None]), s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        l_i = l_i * tl.exp2(m_i - m_new) + tl.sum(tl.exp2(s - m_new[:, None]), 1)
        m_i = m_new
    lse = m_i + tl.log2(l_i)  # (BM,)
    block = rows // (2 * half) * (2 * half)
    partner = block + (rows - block + half) % (2 * half)  # (BM,) p(i) within its rank's rows
    z_p = tl.load(z_ptr + partner[:, None] * D + dims[None, :], mask=row_ok[:, None] & dim_ok, other=0.0)
    positive = tl.sum(z_i.to(tl.float32) * z_p.to(tl.float32), 1) * scale  # (BM,)
    tl.store(lse_ptr + local, lse, mask=row_ok)
    tl.store(loss_ptr + local, (lse - positive) * 0.6931471805599453, mask=row_ok)  # back to natural log


def _backward_kernel(
    z_ptr,
    tau_ptr,
    lse_ptr,
    g_ptr,
    g_scale_ptr,
    rnorm_ptr,
    dx_ptr,
    rowdot_ptr,
    row0,
    m_local,
    M,
    half,
    D,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    DOT_FP32: tl.constexpr,
    PRECISION: tl.constexpr,
):
    local = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # (BM,)
    rows = row0 + local  # (BM,) global row ids k
    row_ok = local < m_local
    dims = tl.arange(0, BLOCK_D)  # (BD,)
    dim_ok = dims[None, :] < D
    z_k = tl.load(z_ptr + rows[:, None] * D + dims[None, :], mask=row_ok[:, None] & dim_ok, other=0.0)
    if DOT_FP32:
        z_k = z_k.to(tl.float32)
    inv_tau = 1.0 / tl.load(tau_ptr)
    scale = 1.4426950408889634 * inv_tau
    lse_k = tl.load(lse_ptr + rows, mask=row_ok, other=0.0)  # (BM,)
    g_k = tl.load(g_ptr + rows, mask=row_ok, other=0.0)  # (BM,) upstream weights g / s (see _row_weights)
    block = rows // (2 * half) * (2 * half)
    partner = block + (rows - block + half) % (2 * half)  # (BM,) p(k)
    g_p = tl.load(g_ptr + partner, mask=row_ok, other=0.0)  # (BM,)
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)  # sum_j W'_kj z_j
    for start in range(0, M, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)  # (BN,)
        col_ok = cols < M
        z_j = tl.load(z_ptr + cols[:, None] * D + dims[None, :], mask=col_ok[:, None] & dim_ok, other=0.0)
        if DOT_FP32:
            z_j = z_j.to(tl.float32)
        s = tl.dot(z_k, tl.trans(z_j), input_precision=PRECISION) * scale  # (BM, BN) = s_kj = s_jk
        lse_j = tl.load(lse_ptr + cols, mask=col_ok, other=0.0)  # (BN,)
        g_j = tl.load(g_ptr + cols, mask=col_ok, other=0.0)  # (BN,)
        w = g_k[:, None] * tl.exp2(s - lse_k[:, None]) + g_j[None, :] * tl.exp2(s - lse_j[None, :])
        w = tl.where(col_ok[None, :] & (cols[None, :] != rows[:, None]), w, 0.0)  # (BM, BN) W_kj
        # the positive's term, subtracted here in fp32: W'_kp = g_k (P_kp - 1) + g_p (P_pk - 1) is the
        # small residual itself, so rounding W' to the storage precision keeps its relative accuracy
        # as P_pos -> 1 (rounding W_kp ~ 2 first would swamp a residual of 2 (1 - P_pos))
        w = tl.where(cols[None, :] == partner[:, None], w - (g_k + g_p)[:, None], w)
        # the tensor-core operand is rounded to z's storage precision, also where the interpreter
        # multiplies in fp32 (DOT_FP32), so that the CPU tests see the GPU's rounding of W'
        w = w.to(z_ptr.dtype.element_ty).to(z_j.dtype)
        acc = tl.dot(w, z_j, acc, input_precision=PRECISION)
    g_scale = tl.load(g_scale_ptr) * inv_tau  # undo W's normalisation, apply 1/t
    dz = acc * g_scale  # (BM, BD) dL/dz
    z_k = z_k.to(tl.float32)
    rowdot = tl.sum(z_k * dz, 1)  # (BM,)
    rnorm = tl.load(rnorm_ptr + local, mask=row_ok, other=0.0)
    dx = (dz - z_k * rowdot[:, None]) * rnorm[:, None]  # (BM, BD) through z = x / |x|
    tl.store(
        dx_ptr + local[:, None] * D + dims[None, :],
        dx.to(dx_ptr.dtype.element_ty),
        mask=row_ok[:, None] & dim_ok,
    )
    tl.store(rowdot_ptr + local, rowdot, mask=row_ok)


def _tile_configs(block_d: int) -> list:
    """CUDA autotune space (BLOCK_M, BLOCK_N, warps, stages) for the similarity tiles."""
    if block_d <= 128:
        shapes = [
            (128, 64, 4, 3),
            (128, 64, 8, 3),
            (128, 128, 8, 3),
            (64, 64, 4, 3),
            (64, 128, 4, 3),
            (128, 32, 4, 4),
        ]
    elif block_d <= 256:
        shapes = [(64, 64, 4, 2), (64, 32, 4, 3), (128, 64, 8, 2), (128, 32, 8, 3), (64, 64, 8, 3)]
    else:
        shapes = [(32, 32, 4, 1), (64, 32, 8, 1), (32, 64, 4, 1)]
    return [config(w, s, BLOCK_M=bm, BLOCK_N=bn) for bm, bn, w, s in shapes]


def _row_configs(block_d: int) -> list:
    return [config(4, 1, BLOCK_M=bm) for bm in (4, 8, 16, 32) if bm == 4 or bm * block_d <= 16384]


_NORMALIZE = LazyKernel(_normalize_kernel, {"BLOCK_M": 32}, _row_configs, key=["n", "D"])
_FORWARD = LazyKernel(_forward_kernel, {"BLOCK_M": 64, "BLOCK_N": 64}, _tile_configs, key=["M", "D"])
_BACKWARD = LazyKernel(_backward_kernel, {"BLOCK_M": 64, "BLOCK_N": 64}, _tile_configs, key=["M", "D"])
