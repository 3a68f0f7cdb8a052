"""InfoNCE of queries against keys and extra negatives, as fused Triton kernels.

van den Oord et al., "Representation Learning with Contrastive Predictive Coding", arXiv 2018: for
queries q (M, D), keys k (K, D), optional extra negatives n (Q, D) (MoCo's queue: He et al., CVPR
2020), a positive key index pos(i) per query and a temperature t,

    loss_i = log sum_{j in keys + negatives, j != excl(i)} exp(q_i . k_j / t) - q_i . k_pos(i) / t

with rows L2-normalised first (``normalize``). ``excl(i)`` drops one key from query i's sum (the
query itself when queries and keys are one set: NT-Xent is ``info_nce(z, z, p, exclude=arange)``).
Without ``batch_negatives`` a query's only key is its positive and its negatives are the extra ones
(MoCo's Algorithm 1: logits [q . k_+, q . queue]).
The gradient reaches queries and keys (pass ``keys.detach()`` to stop it, as MoCo's momentum keys
do); negatives never get one.

The Triton path never materialises the M x (K + Q) logits. The forward streams candidate tiles through
an online log-sum-exp (as FlashAttention does; Dao et al., NeurIPS 2022) anchored on the positive's
logit p_i, and keeps per query the log-sum-exp and 1 - P_pos = sum_{j != pos} P_ij. So the loss is
log1p(sum_{j != pos} exp(s_ij - p_i)) wherever no logit passes the positive's: exact to fp32 as P_pos
-> 1, where lse - p_i would cancel two numbers of about 1/t. The backward recomputes the tiles. With
upstream weights g_i and P_ij = softmax_j(s_ij), the gradient in the logits is
W_ij = g_i (P_ij - [j = pos(i)]) (the positive's entry is -g_i (1 - P_pos), from the forward), and

    dL/du_i = (1/t) sum_j W_ij v_j,   dL/dv_j = (1/t) sum_i W_ij u_i,   dL/dt = -(1/t) sum_i u_i . dL/du_i

for the unit rows u = q/|q| and v = k/|k|. The tiles multiply the rows as stored and scale by inverse
norms computed once per call; the normalisation's backward runs at the end of the backward pass. One
row-stationary backward pass serves every case (``info_nce_tiles``). When queries and keys are one set
(NT-Xent) it adds both roles, sum_j (W_ij + W_ji) u_j: forward and backward then cost 2 + 4 = 6 M^2 D
FLOP. Otherwise a second pass with the roles swapped gives the keys' gradient. No pass uses atomics.
Where the rows alone give too few programs to fill the GPU (M up to about 32k), each row block's loop
is split over several programs whose partial results are combined afterwards
(``info_nce_launch.splits``; a small kernel combines the forward's). A tile spans D in one or two
power-of-two chunks rounded to the tensor cores' 16 columns (130 -> 128 + 16, not 256). Masks
(positive, excluded, MoCo's non-negatives) are applied only on the tiles holding such a column. W is
built in fp32 and rounded to the inputs' type for the tensor cores, scaled by a power of two in fp16
so that its small weights do not flush to zero. Positions are int32 (the sizes are checked).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sslcli.kernels import info_nce_launch as launch
from sslcli.kernels._triton import triton_available
from sslcli.kernels.dispatch import use_triton
from sslcli.kernels.op import FusedOp

_TRITON_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
_REDUCTIONS = ("mean", "none")


def info_nce_reference(
    queries: torch.Tensor,
    keys: torch.Tensor,
    positives: torch.Tensor,
    temperature: float | torch.Tensor = 0.1,
    *,
    negatives: torch.Tensor | None = None,
    exclude: torch.Tensor | None = None,
    batch_negatives: bool = True,
    normalize: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    """Plain-torch InfoNCE over the M x (K + Q) logits, in fp32 or better even under autocast (a bf16
    product rounds logits of about 1/t to 3 significant digits); the CPU path and the test oracle."""
    _check(queries, keys, positives, negatives, exclude, reduction)
    exact = torch.promote_types(torch.promote_types(queries.dtype, keys.dtype), torch.float32)  # fp32+

    def prepare(x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x.to(exact), dim=1) if normalize else x.to(exact)

    q, k = prepare(queries), prepare(keys)  # (M, D), (K, D)
    candidates = k if negatives is None else torch.cat([k, prepare(negatives.detach())])  # (K + Q, D)
    with torch.autocast(q.device.type, enabled=False):
        logits = q @ candidates.T / temperature  # (M, K + Q)
    index = torch.arange(len(candidates), device=q.device)[None, :]  # (1, K + Q)
    if exclude is not None:
        logits = logits.masked_fill(index == exclude[:, None], float("-inf"))
    if not batch_negatives:  # of the keys only the positive: the other queries' keys are no negatives
        logits = logits.masked_fill((index < len(k)) & (index != positives[:, None]), float("-inf"))
    return F.cross_entropy(logits, positives, reduction=reduction)


def info_nce(
    queries: torch.Tensor,
    keys: torch.Tensor,
    positives: torch.Tensor,
    temperature: float | torch.Tensor = 0.1,
    *,
    negatives: torch.Tensor | None = None,
    exclude: torch.Tensor | None = None,
    batch_negatives: bool = True,
    normalize: bool = True,
    reduction: str = "mean",
    check_indices: bool = True,
) -> torch.Tensor:
    """InfoNCE of ``queries`` (M, D) against ``keys`` (K, D) plus ``negatives`` (Q, D).

    ``positives`` (M,) int64: each query's key in [0, K). ``exclude`` (M,) int64: a key (or
    negative, K + index) left out of each query's sum, -1 for none. ``reduction``: ``"mean"`` (a
    scalar) or ``"none"`` (the M per-query losses), fp32 either way. ``batch_negatives`` False:
    the keys other than a query's positive are not its negatives (MoCo). ``temperature`` may be a
    learnable one-element tensor. Runs the fused Triton kernels on CUDA (``sslcli.kernels.dispatch``),
    the reference elsewhere. ``check_indices`` False skips the range check of ``positives`` and
    ``exclude`` (one host sync each), for callers that build them in range (``nt_xent``).
    """
    _check(queries, keys, positives, negatives, exclude, reduction, check_indices)
    dtype = fused_dtype(queries, keys)
    if dtype is None:
        return info_nce_reference(
            queries, keys, positives, temperature,
            negatives=negatives, exclude=exclude, batch_negatives=batch_negatives, normalize=normalize,
            reduction=reduction,
        )  # fmt: skip
    if not isinstance(temperature, torch.Tensor):
        temperature = torch.full((1,), float(temperature), dtype=torch.float32, device=queries.device)
    q = queries.to(dtype)  # (M, D)
    k = q if keys is queries else keys.to(dtype)  # (K, D); one set of rows (NT-Xent) stays one
    n = negatives.detach().to(dtype) if negatives is not None else k[:0]  # (Q, D)
    exclude = exclude if exclude is not None else torch.full_like(positives, -1)
    losses = _InfoNCE.apply(q, k, n, positives, exclude, temperature, batch_negatives, normalize)  # (M,)
    return losses.mean() if reduction == "mean" else losses


def fused_dtype(queries: torch.Tensor, keys: torch.Tensor) -> torch.dtype | None:
    """The dtype the fused kernels run in for these inputs, None where the reference runs instead."""
    dtype = torch.promote_types(queries.dtype, keys.dtype)
    fused = use_triton(queries) and triton_available() and dtype in _TRITON_DTYPES
    return dtype if fused and launch.tiles_fit(queries.shape[1], dtype) else None


def _check(queries, keys, positives, negatives, exclude, reduction: str, check_indices: bool = True) -> None:
    if queries.ndim != 2 or keys.ndim != 2 or queries.shape[1] != keys.shape[1] or len(queries) < 1:
        raise ValueError(
            f"info_nce expects queries (M, D) and keys (K, D) with the same D and M >= 1, got "
            f"{tuple(queries.shape)} and {tuple(keys.shape)}"
        )
    if negatives is not None and (negatives.ndim != 2 or negatives.shape[1] != keys.shape[1]):
        raise ValueError(f"negatives must be (Q, {keys.shape[1]}), got {tuple(negatives.shape)}")
    for name, index, low in (("positives", positives, 0), ("exclude", exclude, -1)):
        if index is None:
            continue
        if index.shape != (len(queries),) or index.dtype != torch.int64:
            raise ValueError(f"{name} must be an int64 tensor of shape ({len(queries)},)")
        outside = (index < low) | (index >= len(keys)) if check_indices else None  # a kernel reads no further
        if outside is not None and bool(outside.any()):
            bad = index[outside][0].item()
            raise ValueError(
                f"{name} holds {bad}, outside [{low}, {len(keys)}): the keys are indexed 0 to K - 1"
            )
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(_REDUCTIONS)}, got {reduction!r}")


class _InfoNCE(torch.autograd.Function):
    """Per-query losses (M,) of q, k, n (normalised inside the kernels); saves the forward's statistics.
    One set of rows as queries and keys (``k is q``: NT-Xent) takes one backward pass, else two."""

    @staticmethod
    def forward(ctx, q, k, n, positives, exclude, temperature, batch_negatives, normalize):
        ctx.shared = k is q and len(n) == 0 and batch_negatives
        ctx.temperature = launch.Temperature.of(temperature, q.device)
        tau = ctx.temperature.tau  # (1,)
        q, n = launch.rows_of(q, normalize), launch.rows_of(n, normalize)
        k = q if ctx.shared else launch.rows_of(k, normalize)
        ctx.options = {"batch_negatives": batch_negatives, "normalize": normalize}
        positives, exclude = positives.contiguous(), exclude.contiguous()
        stats, losses = launch.forward(q, k, n, positives, exclude, tau, **ctx.options)
        ctx.save_for_backward(*q, *k, *n, *stats)
        return losses

    @staticmethod
    def backward(ctx, grad):
        saved = ctx.saved_tensors
        q, k, n = (launch.Rows(*saved[i : i + 2]) for i in (0, 2, 4))
        stats, tau = saved[6:], ctx.temperature.tau
        queries = (launch.Queries(*stats), grad.detach().float())  # statistics, upstream weights (M,)
        need_tau = ctx.needs_input_grad[5]
        if ctx.shared:  # dL/dz_r = (1/t) sum_c (W_rc + W_cr) z_c: both roles in one pass
            dq, radial = launch.backward(q, q, n, queries, queries, tau, need_tau=need_tau, **ctx.options)
            dk = None
        else:
            dq, radial = launch.backward(q, k, n, queries, None, tau, need_tau=need_tau, **ctx.options)
            dk = None
            if ctx.needs_input_grad[1]:
                no_negatives = launch.Rows(n.x[:0], n.inverse)
                dk, _ = launch.backward(k, q, no_negatives, None, queries, tau, need_tau=False, **ctx.options)
        # the radial parts cover the query role, both roles (twice it) when shared
        dtau = ctx.temperature.grad(radial.sum() / (2 if ctx.shared else 1)) if need_tau else None
        return dq, dk, None, None, None, dtau, None, None


INFO_NCE = FusedOp(
    "info_nce", info_nce, info_nce_reference, "InfoNCE of queries against keys and a queue (MoCo, CPC)"
)
