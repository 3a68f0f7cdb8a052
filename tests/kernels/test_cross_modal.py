"""Symmetric cross-modal InfoNCE through the fused kernel (interpreted on CPU): equal in value and
gradient to a per-row loop of the CLIP formula, and refusing unpaired inputs."""

from __future__ import annotations

import math

import pytest
import torch
from sslcli.kernels import cross_modal_info_nce, cross_modal_info_nce_reference


def row_loop_loss(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Mean over both directions and every row of -log softmax(row . others / t)[own], one row at a time."""
    a, b = (x / x.norm(dim=1, keepdim=True) for x in (a.double(), b.double()))
    total = torch.zeros((), dtype=torch.float64)
    for queries, keys in ((a, b), (b, a)):
        for i in range(len(queries)):
            scores = [float(queries[i] @ keys[j]) / t for j in range(len(keys))]
            total = total + math.log(sum(math.exp(s) for s in scores)) - scores[i]
    return total / (2 * len(a))


@pytest.mark.parametrize(("n", "d"), [(3, 8), (9, 20)])
def test_matches_a_row_loop_of_the_clip_formula(n, d, device):
    torch.manual_seed(n)
    a, b = torch.randn(n, d, device=device), torch.randn(n, d, device=device)
    loss = cross_modal_info_nce(a, b, 0.2)
    assert float(loss) == pytest.approx(float(row_loop_loss(a.cpu(), b.cpu(), 0.2)), rel=1e-5)


def test_gradients_reach_both_modalities_as_in_the_reference(device):
    torch.manual_seed(1)
    a = torch.randn(6, 16, device=device, requires_grad=True)
    b = torch.randn(6, 16, device=device, requires_grad=True)
    cross_modal_info_nce(a, b, 0.1).backward()
    a_ref, b_ref = (x.detach().clone().requires_grad_() for x in (a, b))
    cross_modal_info_nce_reference(a_ref, b_ref, 0.1).backward()
    torch.testing.assert_close(a.grad, a_ref.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(b.grad, b_ref.grad, rtol=1e-4, atol=1e-6)


def test_swapping_the_modalities_gives_the_same_loss(device):
    torch.manual_seed(2)
    a, b = torch.randn(5, 8, device=device), torch.randn(5, 8, device=device)
    assert float(cross_modal_info_nce(a, b)) == pytest.approx(float(cross_modal_info_nce(b, a)), rel=1e-6)


def test_refuses_unpaired_inputs(device):
    with pytest.raises(ValueError, match="equal shape"):
        cross_modal_info_nce(torch.randn(4, 8, device=device), torch.randn(5, 8, device=device))


def test_a_learnable_temperature_gets_the_reference_gradient(device):
    torch.manual_seed(3)
    a = torch.randn(70, 24, device=device, requires_grad=True)  # 70: the interpreter splits the loop
    b = torch.randn(70, 24, device=device, requires_grad=True)
    t = torch.tensor([0.15], device=device, requires_grad=True)
    got = torch.autograd.grad(cross_modal_info_nce(a, b, t), (a, b, t))
    oracle = [x.detach().double().requires_grad_() for x in (a, b, t)]
    want = torch.autograd.grad(cross_modal_info_nce_reference(*oracle[:2], oracle[2]), oracle)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g.double(), w, rtol=1e-4, atol=1e-7)
