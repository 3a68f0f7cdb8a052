"""The fused MAE masking and un-shuffle kernels against MAE's noise -> argsort -> gather reference."""

import pytest
import torch
from sslcli.kernels import mae_masking
from sslcli.kernels.mae_masking import (
    mae_random_masking,
    mae_random_masking_reference,
    mae_unshuffle,
    mae_unshuffle_reference,
    num_visible,
)

# (input shape, patch size, tubelet): images, tokens (patch size unused), video with tubelets
INPUTS = [((3, 3, 32, 48), 8, 1), ((2, 37, 20), 16, 1), ((2, 300, 5), 1, 1), ((2, 4, 3, 16, 24), 8, 2)]


def make_input(shape, device, dtype=torch.float32, seed=0):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    if dtype == torch.uint8:  # 8-bit pixels
        x = (x * 40 + 128).clamp(0, 255)
    return x.to(device, dtype)


def num_patches(shape, patch):
    return shape[1] if len(shape) == 3 else (shape[-2] // patch) * (shape[-1] // patch)


def tied_noise(b, length, device, levels=4):
    """Noise with many equal values, so the order of ties decides which patches stay visible."""
    return (
        torch.randint(0, levels, (b, length), generator=torch.Generator().manual_seed(1)).float().to(device)
    )


def stable_ranks(noise: torch.Tensor) -> torch.Tensor:
    """Rank of every patch under sorting by (noise, index), written with Python's sort."""
    ranks = torch.empty(noise.shape, dtype=torch.int64)
    for b, row in enumerate(noise.tolist()):
        for rank, index in enumerate(sorted(range(len(row)), key=lambda i, row=row: (row[i], i))):
            ranks[b, index] = rank
    return ranks


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.uint8])
@pytest.mark.parametrize(("shape", "patch", "tubelet"), INPUTS)
def test_matches_reference_for_given_noise(shape, patch, tubelet, dtype, device):
    x = make_input(shape, device, dtype)
    noise = tied_noise(shape[0], num_patches(shape, patch), device)
    out = mae_random_masking(x, 0.75, patch, noise=noise, tubelet=tubelet)
    ref = mae_random_masking_reference(x, 0.75, patch, noise=noise, tubelet=tubelet)
    assert (
        out.visible.dtype == dtype and out.mask.dtype == torch.bool and out.ids_restore.dtype == torch.int64
    )
    for actual, expected in zip(out, ref, strict=True):
        assert torch.equal(actual, expected)


@pytest.mark.parametrize(("shape", "patch", "tubelet"), INPUTS)
def test_ids_restore_is_the_inverse_of_a_stable_sort(shape, patch, tubelet, device):
    x = make_input(shape, device)
    noise = tied_noise(shape[0], num_patches(shape, patch), device, levels=3)
    out = mae_random_masking(x, 0.6, patch, noise=noise, tubelet=tubelet)
    ranks = stable_ranks(noise.cpu())
    assert torch.equal(out.ids_restore.cpu(), ranks)
    ids_shuffle = torch.argsort(ranks, dim=1)  # patch index at each rank
    assert torch.equal(torch.gather(ids_shuffle, 1, ranks), torch.arange(ranks.shape[1]).expand_as(ranks))


def test_visible_patches_follow_mae_patchify_layout(device):
    """Visible row r of sample b is the patch of rank r, flattened (p, q, c) as in MAE's patchify."""
    x = make_input((2, 3, 16, 32), device)
    noise = torch.rand(2, 8, generator=torch.Generator().manual_seed(4)).to(device)
    out = mae_random_masking(x, 0.5, 8, noise=noise)
    ids_shuffle = torch.argsort(out.ids_restore, dim=1)
    for b in range(2):
        for r in range(4):
            h, w = divmod(ids_shuffle[b, r].item(), 4)
            patch = x[b, :, h * 8 : (h + 1) * 8, w * 8 : (w + 1) * 8].permute(1, 2, 0)  # (p, q, c)
            assert torch.equal(out.visible[b, r], patch.reshape(-1))


@pytest.mark.parametrize(
    ("length", "ratio", "expected"), [(196, 0.9, 19), (1568, 0.9, 156), (196, 0.75, 49), (37, 0.3, 25)]
)
def test_num_visible_truncates_as_the_mae_code_does(length, ratio, expected):
    # facebookresearch/mae, models_mae.py: len_keep = int(L * (1 - mask_ratio))
    assert num_visible(length, ratio) == expected


@pytest.mark.parametrize(
    ("length", "ratio", "expected"), [(196, 0.75, 49), (24, 0.0, 24), (37, 0.3, 25), (5, 0.9, 0)]
)
def test_keeps_int_of_l_times_one_minus_ratio(length, ratio, expected, device):
    x = make_input((3, length, 4), device)
    out = mae_random_masking(x, ratio, seed=5)
    assert out.visible.shape == (3, expected, 4)
    assert torch.equal((~out.mask).sum(1).cpu(), torch.full((3,), expected))


def test_all_tied_noise_keeps_the_first_patches(device):
    x = make_input((2, 10, 3), device)
    out = mae_random_masking(x, 0.7, noise=torch.zeros(2, 10, device=device))
    assert torch.equal(out.ids_restore.cpu(), torch.arange(10).expand(2, 10))
    assert torch.equal(out.visible, x[:, :3])


def test_in_kernel_noise_is_seeded(device):
    x = make_input((4, 49, 8), device)
    first, again, other = (mae_random_masking(x, 0.75, seed=s) for s in (11, 11, 12))
    assert torch.equal(first.ids_restore, again.ids_restore)
    assert not torch.equal(first.ids_restore, other.ids_restore)
    ranks = first.ids_restore.cpu()
    assert torch.equal(ranks.sort(1).values, torch.arange(49).expand(4, 49))  # a permutation per sample
    assert not torch.equal(ranks[0], ranks[1])  # per-sample noise
    ref = mae_random_masking_reference(x, 0.75, noise=first.ids_restore.float())
    assert torch.equal(first.visible, ref.visible) and torch.equal(first.mask, ref.mask)


@pytest.mark.parametrize(("shape", "patch", "tubelet"), INPUTS)
def test_gradient_reaches_visible_inputs_only(shape, patch, tubelet, device):
    x = make_input(shape, device).requires_grad_()
    noise = tied_noise(shape[0], num_patches(shape, patch), device)
    out = mae_random_masking(x, 0.75, patch, noise=noise, tubelet=tubelet)
    ref = mae_random_masking_reference(x, 0.75, patch, noise=noise, tubelet=tubelet)
    upstream = torch.randn(out.visible.shape, generator=torch.Generator().manual_seed(2)).to(device)
    (grad,) = torch.autograd.grad(out.visible, x, upstream)
    (ref_grad,) = torch.autograd.grad(ref.visible, x, upstream)
    assert torch.equal(grad, ref_grad)


def test_tube_masking_hides_the_same_patches_at_every_time_step(device):
    clip = make_input((2, 4, 3, 16, 24), device)  # (B, T, C, H, W), tubelet 2 -> 2 time groups of 6 patches
    out = mae_random_masking(clip, 0.5, 8, seed=3, tubelet=2)
    assert out.mask.shape == (2, 6) and out.visible.shape == (2, 2 * 3, 2 * 8 * 8 * 3)
    for g in range(2):  # the second time group's visible patches come from frames 2..3, same positions
        alone = mae_random_masking(
            clip[:, 2 * g : 2 * g + 2], 0.5, 8, noise=out.ids_restore.float(), tubelet=2
        )
        assert torch.equal(out.visible[:, 3 * g : 3 * g + 3], alone.visible)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(
    ("b", "length", "keep", "time_steps", "dim"), [(3, 24, 6, 1, 20), (2, 300, 75, 1, 7), (2, 6, 2, 3, 33)]
)
def test_unshuffle_matches_reference(b, length, keep, time_steps, dim, dtype, device):
    gen = torch.Generator().manual_seed(length)
    ids_restore = torch.stack([torch.randperm(length, generator=gen) for _ in range(b)]).to(device)
    visible = torch.randn(b, time_steps * keep, dim, generator=gen).to(device, dtype).requires_grad_()
    token = torch.randn(1, 1, dim, generator=gen).to(device).requires_grad_()  # fp32 parameter
    out = mae_unshuffle(visible, token, ids_restore, time_steps=time_steps)
    ref = mae_unshuffle_reference(visible, token, ids_restore, time_steps=time_steps)
    assert out.shape == (b, time_steps * length, dim) and out.dtype == dtype
    assert torch.equal(out, ref)
    upstream = torch.randn(out.shape, generator=gen).to(device, dtype)
    grads = torch.autograd.grad(out, (visible, token), upstream)
    ref_grads = torch.autograd.grad(ref, (visible, token), upstream)
    assert torch.equal(grads[0], ref_grads[0])
    hidden = (ids_restore >= keep)[:, None, :, None]  # (B, 1, L, 1)
    token_grad = (upstream.float().reshape(b, time_steps, length, dim) * hidden).sum((0, 1, 2))  # fp32 sum
    assert grads[1].shape == token.shape and grads[1].dtype == token.dtype
    torch.testing.assert_close(grads[1].reshape(-1), token_grad, rtol=1e-5, atol=1e-5)


def test_mask_then_unshuffle_round_trip(device):
    tokens = make_input((3, 50, 16), device)
    token = torch.full((16,), -7.0, device=device)
    out = mae_random_masking(tokens, 0.8, seed=9)
    restored = mae_unshuffle(out.visible, token, out.ids_restore)
    assert torch.equal(restored[~out.mask], tokens[~out.mask])
    assert bool((restored[out.mask] == -7.0).all())


def test_rejects_bad_arguments(device):
    image = make_input((2, 3, 32, 32), device)
    with pytest.raises(ValueError, match="mask_ratio"):
        mae_random_masking(image, 1.0, 16)
    with pytest.raises(ValueError, match="divisible"):
        mae_random_masking(image, 0.5, 12)
    with pytest.raises(ValueError, match="noise"):
        mae_random_masking(image, 0.5, 16, noise=torch.rand(2, 5, device=device))
    nan_noise = torch.rand(2, 4, device=device).index_fill(1, torch.tensor([1], device=device), float("nan"))
    with pytest.raises(ValueError, match="finite"):
        mae_random_masking(image, 0.5, 16, noise=nan_noise)
    with pytest.raises(ValueError, match="mask_token"):
        mae_unshuffle(
            torch.zeros(2, 1, 4, device=device),
            torch.zeros(3, device=device),
            torch.zeros(2, 4, dtype=torch.int64),
        )


def test_reference_env_skips_the_kernel(monkeypatch, device):
    monkeypatch.setenv("SSLCLI_KERNELS", "reference")
    monkeypatch.setattr(mae_masking._Masking, "apply", lambda *args: pytest.fail("kernel ran"))
    monkeypatch.setattr(mae_masking._Unshuffle, "apply", lambda *args: pytest.fail("kernel ran"))
    out = mae_random_masking(make_input((2, 10, 3), device), 0.5, seed=1)
    mae_unshuffle(out.visible, torch.zeros(3, device=device), out.ids_restore)


def test_float64_noise_ranks_like_the_reference(device):
    """Noise values apart only beyond float32's resolution tie in both paths (ordered by index)."""
    x = make_input((1, 6, 2), device)
    noise = torch.tensor([[0.5 + 1e-12, 0.5, 0.25, 0.5 - 1e-12, 0.75, 0.1]], dtype=torch.float64)
    kernel = mae_random_masking(x, 0.5, noise=noise.to(device))
    reference = mae_random_masking_reference(x, 0.5, noise=noise)
    assert torch.equal(kernel.ids_restore.cpu(), reference.ids_restore)
    assert kernel.ids_restore.tolist() == [[2, 3, 1, 4, 5, 0]]  # ties 0.5 in index order 0, 1, 3
