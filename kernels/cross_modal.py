"""Symmetric cross-modal InfoNCE, as two passes of the fused InfoNCE (``sslcli.kernels.info_nce``).

Morgado, Vasconcelos, Misra, "Audio-Visual Instance Discrimination with Cross-Modal Agreement", CVPR
2021 (cross-modal discrimination); Radford et al., "CLIP", ICML 2021 (the symmetric form). For N pairs
of embeddings a_i, b_i of two modalities (L2-normalised) and a temperature t, pair i is the positive
and the other pairs' embeddings of the other modality are the negatives, in both directions:

    loss = 1/2 mean_i [ log sum_j exp(a_i . b_j / t) - a_i . b_i / t ]
         + 1/2 mean_i [ log sum_j exp(b_i . a_j / t) - b_i . a_i / t ]

Under torch.distributed the keys of every rank are gathered (rank-major, with gradient) and each rank
scores its own rows against all of them, as ``nt_xent`` does: the mean of the ranks' losses is the
single-process loss of the concatenated batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sslcli.kernels.gather import distributed_world, gather_with_grad
from sslcli.kernels.info_nce import info_nce
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
    rows = rank * len(a) + torch.arange(len(a), device=a.device)  # (N,) global ids of this rank's pairs
    keys_b = gather_with_grad(b) if world > 1 else b  # (world * N, D)
    keys_a = gather_with_grad(a) if world > 1 else a
    return (info_nce(a, keys_b, rows, temperature) + info_nce(b, keys_a, rows, temperature)) / 2


CROSS_MODAL_INFO_NCE = FusedOp(
    "cross_modal_info_nce",
    cross_modal_info_nce,
    cross_modal_info_nce_reference,
    "symmetric InfoNCE between two modalities (AVID)",
)
