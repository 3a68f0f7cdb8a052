"""The fused InfoNCE kernels against the plain-torch reference in float64, the paper formulas of
MoCo (queue) and SimCLR (NT-Xent as the self-excluding special case), and half precision near
P_pos = 1."""

import importlib

import pytest
import torch
import torch.nn.functional as F
from sslcli.kernels import info_nce, info_nce_reference, nt_xent_reference


def make_inputs(m: int, k: int, q: int, d: int, device: str, dtype=torch.float32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    queries = torch.randn(m, d, generator=g).to(device, dtype).requires_grad_()
    keys = torch.randn(k, d, generator=g).to(device, dtype).requires_grad_()
    negatives = torch.randn(q, d, generator=g).to(device, dtype) if q else None
    positives = torch.randint(0, k, (m,), generator=g).to(device)
    return queries, keys, negatives, positives


def grads(loss: torch.Tensor, *tensors: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, tensors, retain_graph=True))


# (300, 90, 210, 24): 3 programs per row block split the 300 candidates (one split straddles the
# keys and the negatives) and the 300 queries of the keys' gradient
@pytest.mark.parametrize(
    ("m", "k", "q", "d"),
    [(1, 1, 0, 3), (5, 7, 0, 16), (33, 20, 19, 40), (17, 17, 50, 130), (300, 90, 210, 24)],
)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_fp32_matches_the_float64_reference(m, k, q, d, reduction, device):
    queries, keys, negatives, positives = make_inputs(m, k, q, d, device)
    upstream = torch.rand(m, device=device) if reduction == "none" else torch.tensor(1.0, device=device)
    loss = info_nce(queries, keys, positives, 0.2, negatives=negatives, reduction=reduction)
    oracle_q, oracle_k = (x.detach().double().requires_grad_() for x in (queries, keys))
    oracle_n = negatives.double() if negatives is not None else None
    oracle = info_nce_reference(oracle_q, oracle_k, positives, 0.2, negatives=oracle_n, reduction=reduction)
    assert loss.dtype == torch.float32 and loss.shape == oracle.shape
    torch.testing.assert_close(loss.double(), oracle, rtol=1e-5, atol=1e-6)
    got = grads((loss * upstream).sum(), queries, keys)
    want = grads((oracle * upstream.double()).sum(), oracle_q, oracle_k)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-6)


def test_nt_xent_is_the_self_excluding_special_case(device):
    z_a, z_b, _, _ = make_inputs(6, 6, 0, 24, device, seed=3)
    z = torch.cat([z_a, z_b])  # (12, D): row i's positive is its other view, (i + 6) mod 12
    positives = torch.arange(12, device=device).roll(6)
    temperature = torch.tensor([0.3], device=device, requires_grad=True)
    loss = info_nce(z, z, positives, temperature, exclude=torch.arange(12, device=device))
    oracle_a, oracle_b = (x.detach().double().requires_grad_() for x in (z_a, z_b))
    oracle_t = temperature.detach().double().requires_grad_()
    oracle = nt_xent_reference(oracle_a, oracle_b, oracle_t)
    torch.testing.assert_close(loss.double(), oracle, rtol=1e-5, atol=1e-6)
    for a, b in zip(
        grads(loss, z_a, z_b, temperature), grads(oracle, oracle_a, oracle_b, oracle_t), strict=True
    ):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-6)


def test_moco_queue_loss_is_algorithm_1(device):
    """He et al. 2020, Algorithm 1: l_pos = q . k, l_neg = q . queue^T, logits = [l_pos, l_neg] / t,
    cross-entropy with label 0; the key is detached (momentum encoder), the queue gets no gradient."""
    queries, keys, queue, _ = make_inputs(8, 8, 32, 16, device, seed=4)
    q, k, queue = F.normalize(queries, dim=1), F.normalize(keys.detach(), dim=1), F.normalize(queue, dim=1)
    positives = torch.arange(8, device=device)
    loss = info_nce(q, k, positives, 0.2, negatives=queue, batch_negatives=False, normalize=False)
    l_pos = (q * k).sum(1, keepdim=True)  # (N, 1)
    l_neg = q @ queue.T  # (N, K)
    logits = torch.cat([l_pos, l_neg], dim=1) / 0.2
    expected = F.cross_entropy(logits, torch.zeros(8, dtype=torch.int64, device=device))
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grads(loss, queries)[0], grads(expected, queries)[0], rtol=1e-4, atol=1e-6)


def test_detached_keys_get_no_gradient_and_negatives_never(device):
    queries, keys, negatives, positives = make_inputs(4, 5, 6, 16, device)
    negatives.requires_grad_()
    info_nce(queries, keys.detach(), positives, 0.1, negatives=negatives).backward()
    assert queries.grad is not None and keys.grad is None and negatives.grad is None


def relative_error(got: list[torch.Tensor], want: list[torch.Tensor]) -> float:
    a = torch.cat([g.double().cpu().flatten() for g in got])
    b = torch.cat([g.cpu().flatten() for g in want])
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_gradient_stays_accurate_as_the_positive_probability_nears_one(dtype, device):
    """P_pos >= 0.999: the true gradient is a small residual. The interpreter rounds the tensor-core
    operand W like the GPU (see the kernels), so this runs the half-precision numerics on the CPU."""
    g = torch.Generator().manual_seed(12)
    keys = torch.randn(32, 64, generator=g)
    queries = keys + 0.5 * torch.randn(32, 64, generator=g)  # each query close to its own key
    queue = torch.randn(64, 64, generator=g)
    queries, keys, queue = (x.to(dtype) for x in (queries, keys, queue))
    positives = torch.arange(32)
    oracle_q, oracle_k = (x.double().requires_grad_() for x in (queries, keys))
    oracle = info_nce_reference(oracle_q, oracle_k, positives, 0.05, negatives=queue.double())
    logits = (
        F.normalize(oracle_q.detach(), dim=1)
        @ F.normalize(torch.cat([oracle_k.detach(), queue.double()]), dim=1).T
    )
    assert (logits / 0.05).softmax(dim=1).diagonal().min() >= 0.999

    kernel_q, kernel_k = (x.to(device, copy=True).requires_grad_() for x in (queries, keys))
    fused = info_nce(kernel_q, kernel_k, positives.to(device), 0.05, negatives=queue.to(device))
    eager_q, eager_k = (x.float().requires_grad_() for x in (queries, keys))
    with torch.autocast("cpu", dtype=dtype):  # what plain torch under autocast computes
        candidates = F.normalize(torch.cat([eager_k, queue.float()]), dim=1)  # (K + Q, D)
        eager = F.cross_entropy(F.normalize(eager_q, dim=1) @ candidates.T / 0.05, positives)
    fused_error = relative_error(grads(fused, kernel_q, kernel_k), grads(oracle, oracle_q, oracle_k))
    eager_error = relative_error(grads(eager, eager_q, eager_k), grads(oracle, oracle_q, oracle_k))
    assert fused_error <= 2 * eager_error and fused_error < 0.1, (fused_error, eager_error)


def test_the_reference_keeps_its_logits_exact_under_bf16_autocast():
    queries, keys, _, positives = make_inputs(64, 64, 0, 32, "cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16):  # a CPU training step's, where bf16 is native
        loss = info_nce_reference(queries, keys, positives, 0.05)
    (grad,) = grads(loss, queries)  # backward outside autocast, as the trainer's
    oracle_q = queries.detach().double().requires_grad_()
    oracle = info_nce_reference(oracle_q, keys.detach().double(), positives, 0.05)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss.double(), oracle, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grad.double(), grads(oracle, oracle_q)[0], rtol=1e-4, atol=1e-7)


def test_rejects_bad_arguments(device):
    queries, keys, _, positives = make_inputs(3, 4, 0, 8, device)
    with pytest.raises(ValueError, match="same D"):
        info_nce(queries, keys[:, :4], positives)
    with pytest.raises(ValueError, match="positives"):
        info_nce(queries, keys, positives[:2])
    with pytest.raises(ValueError, match="reduction"):
        info_nce(queries, keys, positives, reduction="sum")
    for bad in (4, -1):  # K = 4 keys: a GPU kernel would read past them
        with pytest.raises(ValueError, match=rf"^positives holds {bad}, outside \[0, 4\)"):
            info_nce(queries, keys, torch.tensor([0, bad, 1], device=device))
    with pytest.raises(ValueError, match=r"^exclude holds 4, outside \[-1, 4\)"):
        info_nce(queries, keys, positives, exclude=torch.tensor([-1, 4, 0], device=device))


def test_moco_trains_through_the_fused_kernel_with_the_eager_queue_loss(device, monkeypatch):
    from sslcli.methods import StepContext
    from sslcli.methods.moco import MoCoV2
    from sslcli.models import build_backbone

    kernel = importlib.import_module(
        "sslcli.kernels.info_nce"
    )._InfoNCE  # the package's info_nce is the function
    calls = []
    apply = kernel.apply
    monkeypatch.setattr(kernel, "apply", lambda *args: calls.append(1) or apply(*args))
    torch.manual_seed(0)
    backbone, dim = build_backbone("vit_tiny_p8", 16)
    moco = MoCoV2(backbone, dim, hidden_dim=64, queue_size=24).to(device)
    views = [{"image": torch.randn(6, 3, 16, 16, device=device)} for _ in range(2)]
    queue = moco.queue.clone()  # before the step enqueues its keys
    with torch.no_grad():
        query = F.normalize(moco.projector(moco.backbone(views[0]["image"])), dim=1)
        key = F.normalize(moco.key_projector(moco.key_backbone(views[1]["image"])), dim=1)
        logits = torch.cat([(query * key).sum(1, keepdim=True), query @ queue.T], dim=1) / 0.2
        expected = F.cross_entropy(logits, torch.zeros(6, dtype=torch.int64, device=device))
    loss = moco(views, StepContext()).loss
    assert calls == [1]
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)
    loss.backward()
    assert all(p.grad is not None for p in moco.projector.parameters())


def test_d_is_covered_by_at_most_two_power_of_two_chunks_without_padding_past_sixteen():
    """Tensor cores work in multiples of 16 columns: a tile covers D rounded up to 16 plus less than
    half its tail chunk (D = 130: 144 columns, not the next power of two, 256), or one power of two
    where that is as tight."""
    d_chunks = importlib.import_module("sslcli.kernels.info_nce_launch").d_chunks
    for d in range(1, 1100):
        head, tail = d_chunks(d)
        padded, whole = -(-d // 16) * 16, max(16, 1 << (d - 1).bit_length())
        assert (
            head >= 16 and head & (head - 1) == 0 and (tail == 0 or (tail >= 16 and tail & (tail - 1) == 0))
        )
        assert padded <= head + tail <= whole
        assert tail == 0 or head + tail - padded < tail // 2  # padding only inside the tail chunk
    assert d_chunks(130) == (128, 16) and d_chunks(96) == (64, 32) and d_chunks(768) == (512, 256)


def test_d_wider_than_any_tile_that_fits_runs_the_reference(device, monkeypatch):
    """Past 1024 columns no tile fits an SM's shared memory: the reference runs, no kernel launches."""
    launch = importlib.import_module("sslcli.kernels.info_nce_launch")
    launches = []
    monkeypatch.setattr(launch.FORWARD, "launch", lambda *args, **kwargs: launches.append(1))
    queries, keys, _, positives = make_inputs(4, 4, 0, 1040, device)
    loss = info_nce(queries, keys, positives, 0.2)
    assert launches == []
    torch.testing.assert_close(loss, info_nce_reference(queries, keys, positives, 0.2))
    queries, keys, _, positives = make_inputs(4, 4, 0, 1024, device)
    info_nce(queries, keys, positives, 0.2)
    assert launches == [1]


def test_sizes_past_32_bit_offsets_are_refused_in_one_line():
    """The kernels index with int32: (rows x parts or candidates) x D must stay below 2^31."""
    check = importlib.import_module("sslcli.kernels.info_nce_launch").check_int32_offsets
    check(2**20, 2**20, 1024, parts=1)  # 2^30 elements: fine
    with pytest.raises(ValueError, match=r"^info_nce kernels index with 32 bits: 2147483648 elements"):
        check(2**20, 2**20, 1024, parts=2)
    with pytest.raises(ValueError, match="32 bits"):
        check(16, 2**22, 512)  # a queue of 4M entries at D = 512
