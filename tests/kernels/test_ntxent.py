"""NT-Xent through the fused InfoNCE kernels against autograd through F.normalize and a naive
per-row loop."""

import importlib
import os

import pytest
import torch
import torch.nn.functional as F
from sslcli.kernels import info_nce_launch as tiles
from sslcli.kernels.ntxent import nt_xent, nt_xent_reference

kernels = importlib.import_module("sslcli.kernels.info_nce")  # the package's info_nce is the function


def naive_nt_xent(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Float64 NT-Xent written row by row from the SimCLR definition."""
    z = torch.cat([z_a, z_b]).double()
    z = z / z.norm(dim=1, keepdim=True)  # (M, D)
    m, n = z.shape[0], z_a.shape[0]
    losses = []
    for i in range(m):
        logits = z @ z[i] / temperature  # (M,)
        others = torch.cat([logits[:i], logits[i + 1 :]])
        losses.append(torch.logsumexp(others, 0) - logits[(i + n) % m])
    return torch.stack(losses).mean()


def make_pair(n: int, d: int, device: str, dtype=torch.float32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    z_a = torch.randn(n, d, generator=g).to(device, dtype).requires_grad_()
    z_b = torch.randn(n, d, generator=g).to(device, dtype).requires_grad_()
    return z_a, z_b


def loss_and_grads(fn, z_a, z_b, temperature, upstream: float = 1.0):
    z_a.grad = z_b.grad = None
    loss = fn(z_a, z_b, temperature)
    (upstream * loss).backward()
    return loss.detach(), z_a.grad.clone(), z_b.grad.clone()


def assert_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float, scale: float = 0.0) -> None:
    """Relative closeness; entries near zero get an absolute floor of rtol * max(|expected|, scale)."""
    expected = expected.to(actual.dtype)
    floor = max(expected.abs().max().item(), scale)
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * floor)


SHAPES = [(n, d) for n in (1, 3, 37, 257) for d in (3, 64, 130)]


@pytest.mark.parametrize(("n", "d"), SHAPES)
def test_fp32_matches_autograd_reference(n, d, device):
    temperature = (0.05, 0.1, 0.5, 1.0)[(n + d) % 4]
    z_a, z_b = make_pair(n, d, device, seed=n * d)
    loss, ga, gb = loss_and_grads(nt_xent, z_a, z_b, temperature)
    ref_loss, ref_ga, ref_gb = loss_and_grads(nt_xent_reference, z_a, z_b, temperature)
    assert loss.dtype == torch.float32 and loss.shape == ()
    # N = 1 has a single candidate per row: loss and gradients are zero up to rounding of 1/t-sized logits
    assert_close(loss, ref_loss, rtol=1e-5, scale=1 / temperature)
    assert_close(ga, ref_ga, rtol=1e-5, scale=1 / (2 * n * temperature))
    assert_close(gb, ref_gb, rtol=1e-5, scale=1 / (2 * n * temperature))


@pytest.mark.parametrize(("n", "d"), [(3, 3), (37, 130)])
def test_fp32_matches_naive_row_loop(n, d, device):
    z_a, z_b = make_pair(n, d, device, seed=7)
    loss, ga, gb = loss_and_grads(nt_xent, z_a, z_b, 0.2)
    naive_loss, naive_ga, naive_gb = loss_and_grads(naive_nt_xent, z_a, z_b, 0.2)
    assert_close(loss, naive_loss, rtol=1e-5)
    assert_close(ga, naive_ga, rtol=1e-5)
    assert_close(gb, naive_gb, rtol=1e-5)


@pytest.mark.parametrize("temperature", [0.05, 0.1, 0.3, 1.0])
def test_learnable_temperature_gets_its_gradient(temperature, device):
    z_a, z_b = make_pair(37, 64, device, seed=3)
    grads = []
    for fn in (nt_xent, naive_nt_xent):
        tau = torch.tensor(temperature, device=device, requires_grad=True)
        loss, ga, gb = loss_and_grads(fn, z_a, z_b, tau, upstream=3.0)
        grads.append((loss, ga, gb, tau.grad))
    for actual, expected in zip(*grads, strict=True):
        assert_close(actual, expected, rtol=1e-5)


def test_temperature_is_a_runtime_value(device):
    """One kernel serves every temperature: a tensor temperature is read on the device."""
    z_a, z_b = make_pair(5, 16, device)
    tau = torch.tensor([0.2], device=device)
    first = nt_xent(z_a, z_b, tau)
    tau.fill_(0.7)
    second = nt_xent(z_a, z_b, tau)
    assert_close(first, nt_xent_reference(z_a, z_b, 0.2), rtol=1e-5)
    assert_close(second, nt_xent_reference(z_a, z_b, 0.7), rtol=1e-5)


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") == "1", reason="the interpreter compiles nothing")
def test_new_temperature_does_not_recompile(device):
    z_a, z_b = make_pair(64, 32, device)
    nt_xent(z_a, z_b, 0.1).backward()

    def compiled() -> int:
        return sum(
            len(caches[0])
            for kernel in (tiles.FORWARD, tiles.COMBINE, tiles.BACKWARD)
            for caches in kernel._jit().device_caches.values()
        )

    before = compiled()
    nt_xent(z_a, z_b, 0.37).backward()
    nt_xent(z_a, z_b, torch.tensor(0.9, device=device, requires_grad=True)).backward()
    assert compiled() == before


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs_accumulate_in_fp32(dtype, device):
    z_a, z_b = make_pair(37, 130, device, dtype=dtype, seed=5)
    loss, ga, gb = loss_and_grads(nt_xent, z_a, z_b, 0.1)
    ref_a, ref_b = (z.detach().float().requires_grad_() for z in (z_a, z_b))
    ref_loss, ref_ga, ref_gb = loss_and_grads(nt_xent_reference, ref_a, ref_b, 0.1)
    assert loss.dtype == torch.float32 and ga.dtype == dtype and gb.dtype == dtype
    torch.testing.assert_close(loss, ref_loss, rtol=1e-2, atol=0)
    for grad, ref in ((ga, ref_ga), (gb, ref_gb)):
        assert F.cosine_similarity(grad.float().flatten(), ref.flatten(), dim=0) > 0.999
        torch.testing.assert_close(grad.float(), ref, rtol=0, atol=3e-2 * ref.abs().max().item())


def test_non_contiguous_inputs(device):
    base_a, base_b = make_pair(37, 2 * 65, device, seed=11)
    z_a, z_b = base_a[:, ::2], base_b.T.contiguous().T[:, 1::2]  # strided views, (37, 65)
    loss = nt_xent(z_a, z_b, 0.1)
    assert_close(loss.detach(), nt_xent_reference(z_a, z_b, 0.1).detach(), rtol=1e-5)
    loss.backward()
    ref_a, ref_b = base_a.grad.clone(), base_b.grad.clone()
    base_a.grad = base_b.grad = None
    nt_xent_reference(z_a, z_b, 0.1).backward()
    assert_close(ref_a, base_a.grad, rtol=1e-5)
    assert_close(ref_b, base_b.grad, rtol=1e-5)


def test_backward_is_deterministic(device):
    z_a, z_b = make_pair(257, 64, device, seed=2)
    first = loss_and_grads(nt_xent, z_a, z_b, 0.1)
    second = loss_and_grads(nt_xent, z_a, z_b, 0.1)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)


def test_saves_only_linear_memory(device):
    """Nothing of size M x M is kept for the backward: a few (M, D) tensors (the rows, normalised,
    once per role) and per-row statistics."""
    n, d = 257, 3
    z_a, z_b = make_pair(n, d, device)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        nt_xent(z_a, z_b, 0.1)
    m = 2 * n
    assert saved and sum(saved) <= 8 * (m * d + m)
    assert max(saved) < m * m


def test_rejects_mismatched_or_empty_inputs(device):
    with pytest.raises(ValueError, match="equal shape"):
        nt_xent(torch.zeros(3, 4, device=device), torch.zeros(3, 5, device=device))
    with pytest.raises(ValueError, match="N >= 1"):
        nt_xent(torch.zeros(0, 4, device=device), torch.zeros(0, 4, device=device))


def test_reference_env_skips_the_kernel(monkeypatch, device):
    monkeypatch.setenv("SSLCLI_KERNELS", "reference")
    monkeypatch.setattr(kernels._InfoNCE, "apply", lambda *args: pytest.fail("kernel ran"))
    z_a, z_b = make_pair(3, 8, device)
    assert_close(nt_xent(z_a, z_b, 0.1), nt_xent_reference(z_a, z_b, 0.1), rtol=0)


def relative_error(grads, oracle) -> float:
    """|g - g_oracle| / |g_oracle| over both views' gradients."""
    got = torch.cat([g.double().flatten() for g in grads])
    want = torch.cat([g.flatten() for g in oracle])
    return ((got.cpu() - want.cpu()).norm() / want.norm()).item()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_gradient_stays_accurate_as_the_positive_probability_nears_one(dtype, device):
    """A converging SimCLR run: each positive is almost certain (P_pos >= 0.999), so the true gradient
    is the small residual 2 (1 - P_pos). The half-precision branch rounds the tensor-core operand W
    to ``dtype``; the interpreter does the same (see the backward kernel), so this runs its numerics
    on the CPU. Oracle: the reference in float64 on the same half-precision inputs."""
    g = torch.Generator().manual_seed(11)
    z_a = torch.randn(32, 64, generator=g)
    z_b = z_a + 0.5 * torch.randn(32, 64, generator=g)  # views that agree (cosine ~0.9)
    z_a, z_b = (z.to(dtype) for z in (z_a, z_b))
    oracle_a, oracle_b = (z.double().requires_grad_() for z in (z_a, z_b))
    _, *oracle = loss_and_grads(nt_xent_reference, oracle_a, oracle_b, 0.05)
    z = F.normalize(torch.cat([z_a, z_b]).double(), dim=1)
    logits = (z @ z.T / 0.05).fill_diagonal_(float("-inf"))
    p_pos = logits.softmax(dim=1).diagonal(offset=32)  # (32,) P of each row's positive
    assert p_pos.min() >= 0.999

    kernel_a, kernel_b = (z.to(device, copy=True).requires_grad_() for z in (z_a, z_b))
    _, *fused = loss_and_grads(nt_xent, kernel_a, kernel_b, 0.05)
    eager_a, eager_b = (z.float().requires_grad_() for z in (z_a, z_b))
    with torch.autocast("cpu", dtype=dtype):
        _, *eager = loss_and_grads(nt_xent_reference, eager_a, eager_b, 0.05)
    fused_error, eager_error = relative_error(fused, oracle), relative_error(eager, oracle)
    assert fused_error <= 2 * eager_error and fused_error < 0.1, (fused_error, eager_error)
