"""Symmetric cross-modal InfoNCE on the fused InfoNCE kernels (``sslcli.kernels.info_nce``).

Morgado, Vasconcelos, Misra, "Audio-Visual Instance Discrimination with Cross-Modal Agreement", CVPR
2021 (cross-modal discrimination); Radford et al., "CLIP", ICML 2021 (the symmetric form). For N pairs
of embeddings a_i, b_i of two modalities (L2-normalised) and a temperature t, pair i is the positive
and the other pairs' embeddings of the other modality are the negatives, in both directions:

    loss = 1/2 mean_i [ log sum_j exp(a_i . b_j / t) - a_i . b_i / t ]
         + 1/2 mean_i [ log sum_j exp(b_i . a_j / t) - b_i . a_i / t ]

Under torch.distributed the keys of every rank are gathered (rank-major, with gradient) and each rank
scores its own rows against all of them, as ``nt_xent`` does: the mean of the ranks' losses is the
single-process loss of the concatenated batch.

In one process the two directions share their backward: with W (a's rows as queries) and W' (b's),
dL/du_a = (1/t) sum_j (W_ij + W'_ji) v_j and dL/dv_b = (1/t) sum_i (W'_ji + W_ij) u_i, one
row-stationary pass per modality. Forward 2 x 2 N^2 D and backward 2 x 4 N^2 D FLOP: 12 N^2 D, where
two separate InfoNCE losses (forward, queries' pass, keys' pass each) cost 20.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sslcli.kernels import info_nce_launch as launch
from sslcli.kernels.gather import distributed_world, gather_with_grad
from sslcli.kernels.info_nce import fused_dtype, info_nce
from sslcli.kernels.ntxent import check_pair
from sslcli.kernels.op import FusedOp


def cross_modal_info_nce_reference(
    a: torch.Tensor, b: torch.Tensor, temperature: float | torch.Tensor = 0.1
) -> torch.Tensor:
    """Plain-torch symmetric InfoNCE over the N x N logits (the test oracle)."""
    check_pair("cross_modal_info_nce", a, b)
    logits = F.normalize(a.float(), dim=1) @ F.normalize(b.float(), dim=1).T / temperature  # (N, N)
    target = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def cross_modal_info_nce(
    a: torch.Tensor,
    b: torch.Tensor,
    temperature: float | torch.Tensor = 0.1,
    *,
    gather_distributed: bool = True,
) -> torch.Tensor:
    """Symmetric InfoNCE of paired embeddings ``a`` (N, Da) and ``b`` (N, Db), Da = Db, -> fp32 scalar.

    Rows are L2-normalised inside. Runs the fused InfoNCE kernels on CUDA (see
    ``sslcli.kernels.dispatch``), the reference elsewhere. With ``gather_distributed`` and an
    initialised process group, the negatives come from every rank.
    """
    check_pair("cross_modal_info_nce", a, b)
    rank, world = distributed_world(gather_distributed)
    dtype = fused_dtype(a, b)
    if world == 1 and dtype is not None:
        if not isinstance(temperature, torch.Tensor):
            temperature = torch.full((1,), float(temperature), dtype=torch.float32, device=a.device)
        losses_ab, losses_ba = _PairedInfoNCE.apply(a.to(dtype), b.to(dtype), temperature)  # (N,), (N,)
        return (losses_ab.mean() + losses_ba.mean()) / 2
    rows = rank * len(a) + torch.arange(len(a), device=a.device)  # (N,) global ids of this rank's pairs
    keys_b = gather_with_grad(b) if world > 1 else b  # (world * N, D)
    keys_a = gather_with_grad(a) if world > 1 else a
    return (info_nce(a, keys_b, rows, temperature) + info_nce(b, keys_a, rows, temperature)) / 2


class _PairedInfoNCE(torch.autograd.Function):
    """The per-pair losses of both directions, (N,) each: a's rows against b's, and b's against a's."""

    OPTIONS = {"batch_negatives": True, "normalize": True}

    @staticmethod
    def forward(ctx, a, b, temperature):
        ctx.temperature = launch.Temperature.of(temperature, a.device)
        tau = ctx.temperature.tau  # (1,)
        a, b = (launch.rows_of(x, normalize=True) for x in (a, b))
        none = launch.Rows(a.x[:0], a.inverse[:0])
        pairs = torch.arange(len(a.x), device=a.x.device)  # (N,) pair i is each row's positive
        unmasked = torch.full_like(pairs, -1)
        stats_ab, losses_ab = launch.forward(a, b, none, pairs, unmasked, tau, **_PairedInfoNCE.OPTIONS)
        stats_ba, losses_ba = launch.forward(b, a, none, pairs, unmasked, tau, **_PairedInfoNCE.OPTIONS)
        ctx.save_for_backward(*a, *b, *stats_ab, *stats_ba)
        return losses_ab, losses_ba

    @staticmethod
    def backward(ctx, grad_ab, grad_ba):
        a_x, a_inverse, b_x, b_inverse, *stats = ctx.saved_tensors
        tau = ctx.temperature.tau
        a, b = launch.Rows(a_x, a_inverse), launch.Rows(b_x, b_inverse)
        none = launch.Rows(a_x[:0], a_inverse[:0])
        from_a = (launch.Queries(*stats[:4]), grad_ab.detach().float())  # a's rows as queries
        from_b = (launch.Queries(*stats[4:]), grad_ba.detach().float())
        need_tau = ctx.needs_input_grad[2]
        options = {"need_tau": need_tau, **_PairedInfoNCE.OPTIONS}
        da, radial_a = launch.backward(a, b, none, from_a, from_b, tau, **options)  # (N, D), (N,)
        db, radial_b = launch.backward(b, a, none, from_b, from_a, tau, **options)
        # each pass's radial parts hold both directions: their sum counts each twice
        dtau = ctx.temperature.grad((radial_a.sum() + radial_b.sum()) / 2) if need_tau else None
        return da, db, dtau


CROSS_MODAL_INFO_NCE = FusedOp(
    "cross_modal_info_nce",
    cross_modal_info_nce,
    cross_modal_info_nce_reference,
    "symmetric InfoNCE between two modalities (AVID)",
)
