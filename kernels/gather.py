"""torch.distributed helpers for losses that see the embeddings of every rank.

Gathered tensors are concatenated rank-major: rank r's rows sit at ``[r * m, (r + 1) * m)``. Every
rank must hold the same number of rows.
"""

import torch
import torch.distributed as dist


def distributed_world(gather: bool) -> tuple[int, int]:
    """(rank, world size) of the default process group, or (0, 1) when not gathering."""
    if not (gather and dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def all_gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (m, ...) from every rank -> (world * m, ...), without autograd."""
    out = x.new_empty((dist.get_world_size() * x.shape[0], *x.shape[1:]))
    dist.all_gather(list(out.chunk(dist.get_world_size())), x.contiguous())
    return out


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward sums every rank's gradient of this rank's slice."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.rows = x.shape[0]
        return all_gather_rows(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        start = dist.get_rank() * ctx.rows
        return grad[start : start + ctx.rows]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """All-gather ``x`` (m, ...) -> (world * m, ...) with gradients flowing back to every rank."""
    return _GatherWithGrad.apply(x)
