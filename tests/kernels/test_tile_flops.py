"""The passes each loss makes over its similarity matrix, counted from the FLOP the kernels' tile
products execute under the interpreter (``sslcli.kernels.tile_flops``): NT-Xent's forward and
backward cost 6 M^2 D (one backward pass for both roles; three passes cost 10), a cross-modal pair
12 N^2 D (two separate losses: 20), an InfoNCE with distinct queries and keys 10 M K D."""

import os

import pytest
import torch
from sslcli.kernels import cross_modal_info_nce, info_nce, nt_xent

pytestmark = pytest.mark.skipif(
    os.environ.get("TRITON_INTERPRET") != "1", reason="counts the interpreter's tile products"
)
N, D = 128, 32  # multiples of the interpreter's 64 x 64 tiles and of 16: no padding is counted


def executed_flop(loss_of, count: int) -> int:
    """FLOP of the forward and backward of ``loss_of`` on ``count`` random (N, D) inputs."""
    from sslcli.kernels.tile_flops import counted_dot_flops

    torch.manual_seed(0)
    inputs = [torch.randn(N, D, requires_grad=True) for _ in range(count)]
    with counted_dot_flops() as counter:
        loss_of(*inputs).backward()
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in inputs)
    return counter["flop"]


def test_nt_xent_forward_and_backward_cost_six_m2d():
    m = 2 * N  # both views' rows
    assert executed_flop(nt_xent, 2) == 6 * m * m * D


def test_a_cross_modal_pair_costs_twelve_n2d():
    assert executed_flop(cross_modal_info_nce, 2) == 12 * N * N * D


def test_distinct_queries_and_keys_cost_ten_mkd():
    positives = torch.arange(N)
    assert executed_flop(lambda q, k: info_nce(q, k, positives), 2) == 10 * N * N * D
