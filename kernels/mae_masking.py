"""MAE random patch masking and the decoder-side un-shuffle as fused Triton kernels.

He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022: every sample draws one
noise value per patch, the patches with the smallest noise stay visible (``ids_shuffle =
argsort(noise)``, ``ids_restore = argsort(ids_shuffle)``, keep the first int(L (1 - ratio)) as the
authors' code does: 19 of 196 at ratio 0.9), and
the decoder puts the encoded visible tokens back in place with a shared mask token in the gaps.
Tong et al., "VideoMAE", NeurIPS 2022: tube masking hides the same spatial patches at every time
step of a clip (tubelets of ``tubelet`` frames).

The masking kernel ranks each patch by counting the patches with smaller noise (ties broken by
index, i.e. a stable argsort), writes ``mask`` and ``ids_restore`` and copies only the visible
patches, straight from the image, in MAE's patchify layout (p, q, c) — (t, p, q, c) for tubelets.
No index tensor of the output's size is ever built, neither there nor in the un-shuffle.

Shapes: images (B, C, H, W) -> visible (B, L_keep, p*p*C); tokens (B, L, D) -> (B, L_keep, D);
video (B, T, C, H, W) -> (B, G*L_keep, t*p*p*C) with G = T / t time groups, time-group-major.
``mask`` (B, L) is True where a patch is hidden; ``ids_restore`` (B, L) int64 is each patch's rank.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from sslcli.kernels._triton import cdiv, triton_available
from sslcli.kernels.dispatch import use_triton
from sslcli.kernels.mae_masking_tiles import MASK, UNSHUFFLE, UNSHUFFLE_BACKWARD
from sslcli.kernels.op import FusedOp


class MaskedPatches(NamedTuple):
    visible: torch.Tensor  # (B, G * L_keep, P) visible patches, in rank (noise) order
    mask: torch.Tensor  # (B, L) bool, True = hidden from the encoder
    ids_restore: torch.Tensor  # (B, L) int64, rank of each patch = its index in [visible, masked]


def num_visible(num_patches: int, mask_ratio: float) -> int:
    """Patches kept per sample: int(L * (1 - mask_ratio)), truncated as in the MAE authors' code."""
    return int(num_patches * (1.0 - mask_ratio))


# ---------------------------------------------------------------------------------------------------
# Plain-torch references (the CPU path and the test oracle)
# ---------------------------------------------------------------------------------------------------


def mae_random_masking_reference(
    x: torch.Tensor,
    mask_ratio: float = 0.75,
    patch_size: int = 16,
    *,
    noise: torch.Tensor | None = None,
    seed: int | None = None,
    tubelet: int = 1,
) -> MaskedPatches:
    """MAE's noise -> argsort -> gather on patchified ``x`` (see the module docstring for shapes)."""
    v, p, t = _video_view(x, patch_size, tubelet, mask_ratio)  # (B, T, C, H, W)
    patches = _patchify(v, p, t)  # (B, G, L, P)
    b, g, length, dim = patches.shape
    keep = num_visible(length, mask_ratio)
    noise = _reference_noise(noise, seed, b, length, x.device)  # (B, L)
    ids_shuffle = torch.argsort(noise, dim=1, stable=True)  # (B, L) ascending: small noise is kept
    ids_restore = torch.argsort(ids_shuffle, dim=1)  # (B, L)
    ids_keep = ids_shuffle[:, None, :keep, None].expand(b, g, keep, dim)  # (B, G, L_keep, P)
    visible = torch.gather(patches, 2, ids_keep).reshape(b, g * keep, dim)  # (B, G * L_keep, P)
    return MaskedPatches(visible, ids_restore >= keep, ids_restore)


def mae_unshuffle_reference(
    visible: torch.Tensor, mask_token: torch.Tensor, ids_restore: torch.Tensor, *, time_steps: int = 1
) -> torch.Tensor:
    """MAE's decoder input: cat(visible, mask tokens) gathered back to patch order -> (B, G * L, E)."""
    b, length = ids_restore.shape
    keep, dim = visible.shape[1] // time_steps, visible.shape[2]
    tokens = visible.reshape(b, time_steps, keep, dim)  # (B, G, L_keep, E)
    fill = mask_token.to(visible.dtype).reshape(1, 1, 1, dim).expand(b, time_steps, length - keep, dim)
    tokens = torch.cat([tokens, fill], dim=2)  # (B, G, L, E) in rank order
    index = ids_restore[:, None, :, None].expand(b, time_steps, length, dim)  # (B, G, L, E)
    return torch.gather(tokens, 2, index).reshape(b, time_steps * length, dim)


def _reference_noise(noise, seed, b: int, length: int, device) -> torch.Tensor:
    if noise is not None:
        return _checked_noise(noise, b, length)
    generator = None if seed is None else torch.Generator(device).manual_seed(seed)
    return torch.rand(b, length, generator=generator, device=device)


def _checked_noise(noise: torch.Tensor, b: int, length: int) -> torch.Tensor:
    """``noise`` as both paths rank it: float32 (values equal there are ordered by index), finite."""
    if noise.shape != (b, length):
        raise ValueError(f"noise must have shape (B, L) = {(b, length)}, got {tuple(noise.shape)}")
    noise = noise.float()
    if not torch.isfinite(noise).all():
        raise ValueError("noise must be finite (a NaN has no rank)")
    return noise


def _video_view(x: torch.Tensor, patch_size: int, tubelet: int, mask_ratio: float):
    """Any input as a strided (B, T, C, H, W) view, with its patch size and tubelet length."""
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    if x.ndim == 3:  # tokens (B, L, D): one "pixel" per patch, D channels
        return x.transpose(1, 2)[:, None, :, :, None], 1, 1
    if x.ndim == 4:
        v, tubelet = x[:, None], 1
    elif x.ndim == 5:
        v = x
    else:
        raise ValueError(
            f"expected tokens (B, L, D), images (B, C, H, W) or video (B, T, C, H, W), got {x.ndim}-D"
        )
    _, t, _, h, w = v.shape
    if h % patch_size or w % patch_size or t % tubelet:
        raise ValueError(f"(T, H, W) = {(t, h, w)} must be divisible by (tubelet, patch, patch)")
    return v, patch_size, tubelet


def _patchify(v: torch.Tensor, p: int, t: int) -> torch.Tensor:
    """(B, T, C, H, W) -> (B, G, L, t*p*p*C), each patch laid out (t, p, q, c)."""
    b, frames, c, h, w = v.shape
    v = v.reshape(b, frames // t, t, c, h // p, p, w // p, p)  # (B, G, t, C, Hp, p, Wp, q)
    v = v.permute(0, 1, 4, 6, 2, 5, 7, 3)  # (B, G, Hp, Wp, t, p, q, C)
    return v.reshape(b, frames // t, (h // p) * (w // p), t * p * p * c)


def _unpatchify(patches: torch.Tensor, shape: torch.Size, p: int, t: int) -> torch.Tensor:
    """Inverse of _patchify: (B, G, L, P) -> (B, T, C, H, W) of ``shape``."""
    b, frames, c, h, w = shape
    v = patches.reshape(b, frames // t, h // p, w // p, t, p, p, c)  # (B, G, Hp, Wp, t, p, q, C)
    return v.permute(0, 1, 4, 7, 2, 5, 3, 6).reshape(shape)


def _from_video_view(v: torch.Tensor, ndim: int) -> torch.Tensor:
    """Inverse of _video_view for a (B, T, C, H, W) tensor."""
    if ndim == 3:
        return v[:, 0, :, :, 0].transpose(1, 2)  # (B, L, D)
    return v[:, 0] if ndim == 4 else v


# ---------------------------------------------------------------------------------------------------
# Public ops
# ---------------------------------------------------------------------------------------------------


def mae_random_masking(
    x: torch.Tensor,
    mask_ratio: float = 0.75,
    patch_size: int = 16,
    *,
    noise: torch.Tensor | None = None,
    seed: int | None = None,
    tubelet: int = 1,
) -> MaskedPatches:
    """Randomly hide ``mask_ratio`` of each sample's patches; returns (visible, mask, ids_restore).

    ``x``: tokens (B, L, D) (``patch_size`` unused), images (B, C, H, W) or video (B, T, C, H, W)
    (tube masking, ``tubelet`` frames per token). ``noise`` (B, L) fixes the ranking (equal values
    are ordered by index); without it the Triton path draws Philox noise in-kernel from ``seed``
    (default: drawn from torch's global generator) and the reference uses ``torch.rand``.
    Gradients flow back to ``x`` (visible patches only).
    """
    v, p, t = _video_view(x, patch_size, tubelet, mask_ratio)
    if not (use_triton(x) and triton_available() and (x.dtype.is_floating_point or x.dtype == torch.uint8)):
        return mae_random_masking_reference(
            x, mask_ratio, patch_size, noise=noise, seed=seed, tubelet=tubelet
        )
    length = (v.shape[3] // p) * (v.shape[4] // p)
    if noise is not None:
        noise = (
            _checked_noise(noise, x.shape[0], length).to(device=x.device, dtype=torch.float32).contiguous()
        )
    elif seed is None:
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
    return MaskedPatches(*_Masking.apply(x, v, p, t, num_visible(length, mask_ratio), noise, seed))


def mae_unshuffle(
    visible: torch.Tensor, mask_token: torch.Tensor, ids_restore: torch.Tensor, *, time_steps: int = 1
) -> torch.Tensor:
    """Decoder input (B, G * L, E): visible tokens (B, G * L_keep, E) back in patch order, gaps filled
    with ``mask_token`` (E elements, e.g. (1, 1, E)); ``time_steps`` = G time groups of a video.
    """
    b, length = ids_restore.shape
    if visible.ndim != 3 or visible.shape[0] != b or visible.shape[1] % time_steps:
        raise ValueError(f"visible must be (B, G * L_keep, E) for ids_restore {tuple(ids_restore.shape)}")
    if mask_token.numel() != visible.shape[2]:
        raise ValueError(f"mask_token must hold E = {visible.shape[2]} values, got {mask_token.numel()}")
    if not (use_triton(visible) and triton_available()):
        return mae_unshuffle_reference(visible, mask_token, ids_restore, time_steps=time_steps)
    return _Unshuffle.apply(visible, mask_token, ids_restore, time_steps)


class _Masking(torch.autograd.Function):
    """Fused rank + copy; the backward scatters the visible gradients (zeros elsewhere)."""

    @staticmethod
    def forward(ctx, x, v, p, t, keep, noise, seed):
        b, frames, c, h, w = v.shape
        length, groups, dim = (h // p) * (w // p), frames // t, t * p * p * c
        visible = torch.empty((b, groups * keep, dim), dtype=x.dtype, device=x.device)  # (B, G*L_keep, P)
        mask = torch.empty((b, length), dtype=torch.uint8, device=x.device)  # (B, L)
        ids_restore = torch.empty((b, length), dtype=torch.int64, device=x.device)  # (B, L)
        use_noise = noise is not None
        noise = noise if use_noise else mask  # a placeholder pointer when the kernel draws the noise
        tensors = (v, noise, visible, mask, ids_restore)
        sizes = (length, w // p, keep, groups, c, dim, p, t)
        args = (*tensors, seed or 0, *v.stride(), *sizes)
        MASK.launch(
            lambda meta: (b, cdiv(length, meta["BLOCK_L"])),
            *args,
            USE_NOISE=use_noise,
            on_cuda=x.is_cuda,
        )
        mask = mask.view(torch.bool)
        ctx.mark_non_differentiable(mask, ids_restore)
        ctx.save_for_backward(ids_restore)
        ctx.geometry = (x.ndim, v.shape, p, t)
        return visible, mask, ids_restore

    @staticmethod
    def backward(ctx, grad_visible, _grad_mask, _grad_ids):
        (ids_restore,) = ctx.saved_tensors
        ndim, shape, p, t = ctx.geometry
        groups = shape[1] // t
        zero = grad_visible.new_zeros(grad_visible.shape[2])  # (P,)
        patches = _unshuffle(grad_visible.contiguous(), zero, ids_restore, groups)  # (B, G*L, P)
        patches = patches.reshape(shape[0], groups, ids_restore.shape[1], -1)  # (B, G, L, P)
        grad_x = _from_video_view(_unpatchify(patches, shape, p, t), ndim)
        return grad_x, None, None, None, None, None, None


class _Unshuffle(torch.autograd.Function):
    """Fused un-shuffle; the backward gathers the visible gradients and sums the mask token's."""

    @staticmethod
    def forward(ctx, visible, mask_token, ids_restore, time_steps):
        ids_restore = ids_restore.contiguous()
        ctx.save_for_backward(ids_restore)
        ctx.geometry = (time_steps, visible.shape[1])
        ctx.token = (mask_token.shape, mask_token.dtype)
        token = mask_token.reshape(-1).to(visible.dtype)  # (E,)
        return _unshuffle(visible.contiguous(), token, ids_restore, time_steps)

    @staticmethod
    def backward(ctx, grad_out):
        (ids_restore,) = ctx.saved_tensors
        groups, rows = ctx.geometry
        grad_out = grad_out.contiguous()  # (B, G*L, E)
        b, length = ids_restore.shape
        dim = grad_out.shape[2]
        grad_visible = torch.empty(
            (b, rows, dim), dtype=grad_out.dtype, device=grad_out.device
        )  # (B, G*L_keep, E)
        token_sums = torch.empty((b * groups, dim), dtype=torch.float32, device=grad_out.device)  # (B*G, E)
        args = (grad_out, ids_restore, grad_visible, token_sums, length, rows // groups, groups, dim)
        UNSHUFFLE_BACKWARD.launch(
            lambda meta: (b * groups, cdiv(dim, meta["BLOCK_E"])), *args, on_cuda=grad_out.is_cuda
        )
        shape, dtype = ctx.token
        return grad_visible, token_sums.sum(0).reshape(shape).to(dtype), None, None


def _unshuffle(visible: torch.Tensor, mask_token: torch.Tensor, ids_restore: torch.Tensor, groups: int):
    """visible (B, G*L_keep, E) + mask_token (E,) of the same dtype -> (B, G*L, E) in patch order."""
    b, length = ids_restore.shape
    keep, dim = visible.shape[1] // groups, visible.shape[2]
    out = torch.empty((b, groups * length, dim), dtype=visible.dtype, device=visible.device)  # (B, G*L, E)
    args = (visible, mask_token, ids_restore, out, length, keep, groups, dim)
    UNSHUFFLE.launch(lambda meta: (b * groups, cdiv(length, meta["BLOCK_L"])), *args, on_cuda=visible.is_cuda)
    return out


MAE_RANDOM_MASKING = FusedOp(
    "mae_random_masking",
    mae_random_masking,
    mae_random_masking_reference,
    "MAE's random (and tube) masking: keep, gather and restore indices in one pass",
)
MAE_UNSHUFFLE = FusedOp(
    "mae_unshuffle",
    mae_unshuffle,
    mae_unshuffle_reference,
    "MAE decoder input: encoded visible tokens and mask tokens back in patch order",
)
