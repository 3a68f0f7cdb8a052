"""Accuracy where fp32 and fp16 lose digits: the fp32 loss and gradient as P_pos -> 1 (the loss is a
small residual of two logits of about 1/t), and fp16 with a 4096-entry queue (most of the gradient's
weights fall below fp16's smallest subnormal, 2^-24). Both against the float64 reference."""

import torch
import torch.nn.functional as F
from sslcli.kernels import info_nce, info_nce_reference


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return ((got.double().cpu() - want.cpu()).norm() / want.norm()).item()


def near_certain_inputs(m: int, d: int, temperature: float, seed: int = 0):
    """Queries next to their positive keys, the other keys random: at t = 0.05 and D = 128, P_pos
    lies between 1 - 1e-4 and 1 - 1e-7."""
    g = torch.Generator().manual_seed(seed)
    keys = torch.randn(m, d, generator=g)
    queries = keys + 0.02 * torch.randn(m, d, generator=g)
    positives = torch.arange(m)
    logits = F.normalize(queries.double(), dim=1) @ F.normalize(keys.double(), dim=1).T / temperature
    return queries, keys, positives, logits.softmax(dim=1).diagonal()


def test_fp32_loss_and_gradient_stay_within_twice_eager_fp32_as_the_positive_probability_nears_one(device):
    queries, keys, positives, p_pos = near_certain_inputs(64, 128, 0.05)
    assert p_pos.min() >= 0.9999 and p_pos.max() < 1 - 1e-7  # the loss is a residual, not 0

    def losses_and_grads(function, dtype, dev):
        q, k = (x.to(dev, dtype).requires_grad_() for x in (queries, keys))
        losses = function(q, k, positives.to(dev), 0.05, reduction="none")  # (M,)
        grads = torch.autograd.grad((losses * torch.linspace(0.5, 1.5, 64, device=dev)).sum(), (q, k))
        return losses.detach(), torch.cat([g.flatten() for g in grads])

    oracle_loss, oracle_grad = losses_and_grads(info_nce_reference, torch.float64, "cpu")
    eager_loss, eager_grad = losses_and_grads(info_nce_reference, torch.float32, "cpu")
    fused_loss, fused_grad = losses_and_grads(info_nce, torch.float32, device)
    eager = (relative_error(eager_loss, oracle_loss), relative_error(eager_grad, oracle_grad))
    fused = (relative_error(fused_loss, oracle_loss), relative_error(fused_grad, oracle_grad))
    assert fused[0] <= 2 * eager[0] and fused[1] <= 2 * eager[1], (fused, eager)


def flushing_queue_inputs():
    """fp16 queries, keys (32, 64) and a 4096-entry queue around one shared direction, t = 0.05: most
    of the queue's weights fall below 2^-25 (fp16 rounds them to 0) yet add up to a gradient as large
    as the positive's."""
    g = torch.Generator().manual_seed(5)
    keys = torch.randn(32, 64, generator=g)
    queries = (keys + 0.2 * torch.randn(32, 64, generator=g)).half()
    queue = (torch.randn(1, 64, generator=g) + 0.5 * torch.randn(4096, 64, generator=g)).half()
    return queries, keys.half(), queue, torch.arange(32)


def test_fp16_gradient_with_a_4096_queue_keeps_the_weights_below_the_smallest_subnormal(device):
    """Rounded as they are, the gradient's error was 4.4e-2 (cb0491a); scaled before rounding, 5.9e-3
    (``benchmarks/kernel_accuracy.py``)."""
    queries, keys, queue, positives = flushing_queue_inputs()
    oracle_q = queries.double().requires_grad_()
    oracle = info_nce_reference(oracle_q, keys.double(), positives, 0.05, negatives=queue.double())
    (oracle_grad,) = torch.autograd.grad(oracle, oracle_q)
    weights = (
        F.normalize(oracle_q.detach(), dim=1) @ F.normalize(torch.cat([keys, queue]).double(), dim=1).T / 0.05
    ).softmax(dim=1)[:, 32:]  # (M, 4096) the queue's P_ij
    assert (weights < 2**-25).double().mean() > 0.5
    fused_q = queries.to(device).requires_grad_()
    fused = info_nce(fused_q, keys.to(device), positives.to(device), 0.05, negatives=queue.to(device))
    (fused_grad,) = torch.autograd.grad(fused, fused_q)
    assert relative_error(fused.detach().reshape(1), oracle.detach().reshape(1)) < 1e-3
    assert relative_error(fused_grad, oracle_grad) < 1.5e-2
