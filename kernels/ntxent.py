"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR, as the self-excluding case of
the fused InfoNCE (``sslcli.kernels.info_nce``).

Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020.
For M = 2N rows z (L2-normalised) and temperature t, row i's positive is p(i) = (i + N) mod M:

    loss_i = log sum_{j != i} exp(z_i . z_j / t) - z_i . z_p(i) / t,   loss = mean_i loss_i

that is ``info_nce(z, z, p, exclude=i)``: every row is a query and a key, and the gradients of both
roles add up. The Triton path never materialises the M x M similarities (see ``info_nce``).

Under torch.distributed the embeddings of all ranks are gathered (rank-major, each rank's two views
kept together, with gradient) and each rank computes the loss of its own 2N rows against all of
them, as Lightly's ``NTXentLoss(gather_distributed=True)`` does: the mean of the ranks' losses is the
single-process loss of the concatenated batch, and after DDP averages the gradients training
matches that single process.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sslcli.kernels.gather import distributed_world, gather_with_grad
from sslcli.kernels.info_nce import info_nce
from sslcli.kernels.op import FusedOp


def nt_xent_reference(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    temperature: float | torch.Tensor = 0.1,
    *,
    gather_distributed: bool = True,
) -> torch.Tensor:
    """Plain-torch NT-Xent over the 2N x 2N similarity matrix, in fp32 or (for float64 inputs)
    float64: the tests' oracle, written from the definition independently of ``info_nce``."""
    check_pair("nt_xent", z_a, z_b)
    rank, world = distributed_world(gather_distributed)
    x = torch.cat([z_a, z_b])  # (2n, D) this rank's rows
    if world > 1:
        x = gather_with_grad(x)  # (M, D) rank-major
    z = F.normalize(x.to(torch.promote_types(x.dtype, torch.float32)), dim=1)  # (M, D)
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
    fused InfoNCE kernels on CUDA (see ``sslcli.kernels.dispatch``), the reference elsewhere. With
    ``gather_distributed`` and an initialised process group, negatives come from every rank.
    """
    check_pair("nt_xent", z_a, z_b)
    rank, world = distributed_world(gather_distributed)
    n = z_a.shape[0]
    local = torch.cat([z_a, z_b])  # (2n, D) this rank's rows
    keys = gather_with_grad(local) if world > 1 else local  # (M, D) rank-major
    rows = rank * 2 * n + torch.arange(2 * n, device=local.device)  # (2n,) global row ids
    partners = rows.roll(n)  # (2n,) p(i) = (i + n) mod 2n within the rank
    return info_nce(local, keys, partners, temperature, exclude=rows, check_indices=False)


def check_pair(op: str, z_a: torch.Tensor, z_b: torch.Tensor) -> None:
    """Two (N, D) tensors of equal shape with N >= 1, else a ValueError naming ``op``."""
    if z_a.shape != z_b.shape or z_a.ndim != 2 or z_a.shape[0] < 1:
        raise ValueError(
            f"{op} expects two (N, D) tensors of equal shape with N >= 1, "
            f"got {tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )


NT_XENT = FusedOp(
    "nt_xent", nt_xent, nt_xent_reference, "NT-Xent of two views (SimCLR), forward and backward fused"
)
