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

The Triton path never materialises the M x (K + Q) logits: the forward streams key tiles through an
online log-sum-exp (as FlashAttention does; Dao et al., NeurIPS 2022) and keeps one fp32 statistic
per query. The backward recomputes the tiles. With upstream weights g_i and P_ij = softmax_j(s_ij),
the loss's gradient in the logits is W_ij = g_i (P_ij - [j = pos(i)]), and

    dL/dq_i = (1/t) sum_j W_ij k_j,   dL/dk_j = (1/t) sum_i W_ij q_i,   dL/dt = -(1/t) sum_i q_i . dL/dq_i

one row-stationary pass over key tiles for the queries and one column-stationary pass over query
tiles for the keys, each deterministic (no atomics). Where the rows alone give too few programs to
fill the GPU (M of 512 to 4096), each row block's loop is split over several programs whose partial
log-sum-exps and gradients are combined in torch (``_splits``). A tile spans D in one or two
power-of-two chunks rounded to the tensor cores' 16 columns (``_d_chunks``: 130 -> 128 + 16, not
256). The positive's -1 is folded into W in fp32 before W is rounded to the inputs' precision for
the tensor cores, so the gradient keeps its accuracy as P_pos -> 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sslcli.kernels._triton import cdiv, dot_precision, triton_available
from sslcli.kernels.dispatch import use_triton
from sslcli.kernels.info_nce_tiles import BACKWARD_K, BACKWARD_Q, FORWARD
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
) -> torch.Tensor:
    """InfoNCE of ``queries`` (M, D) against ``keys`` (K, D) plus ``negatives`` (Q, D).

    ``positives`` (M,) int64: each query's key in [0, K). ``exclude`` (M,) int64: a key (or
    negative, K + index) left out of each query's sum, -1 for none. ``reduction``: ``"mean"`` (a
    scalar) or ``"none"`` (the M per-query losses), fp32 either way. ``batch_negatives`` False:
    the keys other than a query's positive are not its negatives (MoCo). ``temperature`` may be a
    learnable one-element tensor. Runs the fused Triton kernels on CUDA (``sslcli.kernels.dispatch``),
    the reference elsewhere.
    """
    _check(queries, keys, positives, negatives, exclude, reduction)
    dtype = torch.promote_types(queries.dtype, keys.dtype)
    if not (use_triton(queries) and triton_available() and dtype in _TRITON_DTYPES):
        return info_nce_reference(
            queries, keys, positives, temperature,
            negatives=negatives, exclude=exclude, batch_negatives=batch_negatives, normalize=normalize,
            reduction=reduction,
        )  # fmt: skip
    if not isinstance(temperature, torch.Tensor):
        temperature = torch.full((1,), float(temperature), dtype=torch.float32, device=queries.device)
    # normalised in fp32 (forward and, through autograd, backward), then stored in the inputs' dtype
    prepare = (lambda x: F.normalize(x.float(), dim=1)) if normalize else (lambda x: x)
    q = prepare(queries).to(dtype)  # (M, D)
    k = q if keys is queries else prepare(keys).to(dtype)  # (K, D); one set of rows (NT-Xent) once
    n = prepare(negatives.detach()).to(dtype) if negatives is not None else k[:0]  # (Q, D)
    exclude = exclude if exclude is not None else torch.full_like(positives, -1)
    losses = _InfoNCE.apply(q, k, n, positives, exclude, temperature, batch_negatives)  # (M,)
    return losses.mean() if reduction == "mean" else losses


def _check(queries, keys, positives, negatives, exclude, reduction: str) -> None:
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
        if len(index) and bool(((index < low) | (index >= len(keys))).any()):  # a GPU kernel reads no further
            bad = index[(index < low) | (index >= len(keys))][0].item()
            raise ValueError(
                f"{name} holds {bad}, outside [{low}, {len(keys)}): the keys are indexed 0 to K - 1"
            )
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(_REDUCTIONS)}, got {reduction!r}")


class _InfoNCE(torch.autograd.Function):
    """Per-query losses (M,) of normalised q, k, n; saves them and the per-query log2-sum-exp."""

    @staticmethod
    def forward(ctx, q, k, n, positives, exclude, temperature, batch_negatives):
        tau = temperature.detach().to(device=q.device, dtype=torch.float32).reshape(1)  # (1,)
        q, k, n = q.contiguous(), k.contiguous(), n.contiguous()
        positives, exclude = positives.contiguous(), exclude.contiguous()
        ctx.batch_negatives = batch_negatives
        lse, losses = _forward(q, k, n, positives, exclude, tau, batch_negatives)  # (M,), (M,)
        ctx.save_for_backward(q, k, n, positives, exclude, tau, lse)
        ctx.tau_meta = (temperature.shape, temperature.dtype, temperature.device)
        return losses

    @staticmethod
    def backward(ctx, grad):
        q, k, n, positives, exclude, tau, lse = ctx.saved_tensors
        g = grad.detach().float().contiguous()  # (M,) upstream weight of each query's loss
        g_scale = g.abs().max().clamp_min(torch.finfo(torch.float32).tiny).reshape(1)  # keeps W <= 1
        g = (g / g_scale).contiguous()
        both = (positives, exclude, tau, lse, g, g_scale, ctx.batch_negatives)
        dq, rowdot = _backward_queries(q, k, n, *both)  # (M, D), (M,)
        dk = _backward_keys(q, k, *both) if ctx.needs_input_grad[1] else None  # (K, D)
        dtau = None
        if ctx.needs_input_grad[5]:
            shape, dtype, device = ctx.tau_meta
            dtau = (-rowdot.sum() / tau).reshape(shape).to(device=device, dtype=dtype)
        return dq, dk, None, None, None, dtau, None


def _d_chunks(d: int) -> tuple[int, int]:
    """(head, tail) columns of D per tile: powers of two (``tl.arange`` needs them) covering D rounded
    up to the tensor cores' granularity of 16: 96 -> 64 + 32, 130 -> 128 + 16, 768 -> 512 + 256. The
    tail is 0 when one power of two covers D as tightly (24 -> 32, 200 -> 256)."""
    padded = -(-d // 16) * 16
    whole = 1 << (padded - 1).bit_length()  # one power of two
    head = max(16, 1 << (padded.bit_length() - 1))
    tail = 0 if padded == head else max(16, 1 << (padded - head - 1).bit_length())
    return (whole, 0) if head + tail >= whole else (head, tail)


def _consts(x: torch.Tensor, batch_negatives: bool) -> dict:
    head, tail = _d_chunks(x.shape[1])
    return {
        "BLOCK_D": head,
        "BLOCK_T": tail or 16,  # unused without TAIL
        "TAIL": tail > 0,
        "BATCH_NEG": batch_negatives,
        "DOT_FP32": not x.is_cuda,
        "PRECISION": dot_precision(x.dtype),
    }


def _splits(rows: int, loop_len: int, device: torch.device) -> int:
    """Programs per block of rows along the loop dimension (keys, or queries for the keys' gradient):
    enough to give every SM two programs when the rows alone are too few (M of 512 ... 4096 on a
    132-SM GPU), each looping over at least 128 entries; their partial results are combined in
    torch. The interpreter splits too (up to 4), so that the tests run the split path."""
    most = max(1, cdiv(loop_len, 128))
    if device.type != "cuda":
        return min(most, 4)
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    return max(1, min(most, cdiv(2 * sms, cdiv(rows, 64))))


def _forward(q, k, n, positives, exclude, tau, batch_negatives):
    """Per-query log2-sum-exp (M,) and loss (M,), from each split's running max and sum."""
    m, d = q.shape
    candidates = len(k) + len(n)
    splits = _splits(m, candidates, q.device)
    part_max = torch.empty((splits, m), dtype=torch.float32, device=q.device)  # (S, M) log2 units
    part_sum = torch.empty((splits, m), dtype=torch.float32, device=q.device)  # (S, M)
    positive = torch.empty(m, dtype=torch.float32, device=q.device)  # (M,) s_i,pos(i), log2 units
    split_len = cdiv(candidates, splits)
    args = (q, k, n, positives, exclude, tau, part_max, part_sum, positive, m, len(k), len(n), d, split_len)
    consts = _consts(q, batch_negatives)
    FORWARD.launch(
        lambda meta: (cdiv(m, meta["BLOCK_M"]), splits), *args, **consts, on_cuda=q.is_cuda,
        variant=(consts["BLOCK_D"] + consts["BLOCK_T"] * consts["TAIL"], q.element_size()),
    )  # fmt: skip
    top = part_max.max(dim=0).values  # (M,)
    lse = top + torch.log2((part_sum * torch.exp2(part_max - top)).sum(dim=0))  # (M,)
    return lse, (lse - positive) * 0.6931471805599453  # losses in natural log


def _backward_queries(q, k, n, positives, exclude, tau, lse, g, g_scale, batch_negatives):
    """dL/dq (M, D) in q's dtype and the row dots q_i . dq_i (M,)."""
    m, d = q.shape
    candidates = len(k) + len(n)
    splits = _splits(m, candidates, q.device)
    partial = torch.empty((splits, m, d), dtype=torch.float32, device=q.device)  # (S, M, D)
    split_len = cdiv(candidates, splits)
    args = (q, k, n, positives, exclude, tau, lse, g, g_scale, partial, m, len(k), len(n), d, split_len)
    consts = _consts(q, batch_negatives)
    BACKWARD_Q.launch(
        lambda meta: (cdiv(m, meta["BLOCK_M"]), splits), *args, **consts, on_cuda=q.is_cuda,
        variant=(consts["BLOCK_D"] + consts["BLOCK_T"] * consts["TAIL"], q.element_size()),
    )  # fmt: skip
    dq = partial.sum(dim=0)  # (M, D)
    return dq.to(q.dtype), (q.float() * dq).sum(dim=1)


def _backward_keys(q, k, positives, exclude, tau, lse, g, g_scale, batch_negatives):
    """dL/dk (K, D) in k's dtype."""
    m, d = q.shape
    splits = _splits(len(k), m, q.device)
    partial = torch.empty((splits, len(k), d), dtype=torch.float32, device=q.device)  # (S, K, D)
    args = (q, k, positives, exclude, tau, lse, g, g_scale, partial, m, len(k), d, cdiv(m, splits))
    consts = _consts(q, batch_negatives)
    BACKWARD_K.launch(
        lambda meta: (cdiv(len(k), meta["BLOCK_M"]), splits), *args, **consts, on_cuda=q.is_cuda,
        variant=(consts["BLOCK_D"] + consts["BLOCK_T"] * consts["TAIL"], q.element_size()),
    )  # fmt: skip
    return partial.sum(dim=0).to(k.dtype)


INFO_NCE = FusedOp(
    "info_nce", info_nce, info_nce_reference, "InfoNCE of queries against keys and a queue (MoCo, CPC)"
)
