"""The clip ViT against plain references: 2-axis sin-cos positions keep MAE's closed form and a third
axis adds the same code for time; every token embeds exactly its tubelet's pixels, laid out (t, p, q, c),
in the order of the masking kernel's tube-masked patches; the pooled outputs are means of the tokens."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from sslcli.kernels import mae_random_masking_reference

from sslcli.models import build_backbone
from sslcli.models.patch_grid import patchify, unpatchify
from sslcli.models.vit import VisionTransformer, sincos_position_embedding

T, P = 2, 2  # tubelet frames, patch side


def sincos_closed_form(coords: list[int], dim: int) -> list[float]:
    """One position's embedding: for each axis, sin then cos of coord / 10000^(k / n), k < n = D / 2A."""
    n = dim // (2 * len(coords))
    row = []
    for coord in coords:
        angles = [coord / 10000 ** (k / n) for k in range(n)]
        row += [math.sin(a) for a in angles] + [math.cos(a) for a in angles]
    return row


def tiny_clip_vit(frames=4, side=8, depth=0) -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer((frames, side, side), P, 3, dim=12, depth=depth, heads=2, tubelet=T)


def test_sincos_keeps_the_2d_closed_form_and_adds_time_as_a_third_axis():
    rows, cols = 3, 5
    got = sincos_position_embedding((rows, cols), 16)
    want = [sincos_closed_form([r, c], 16) for r in range(rows) for c in range(cols)]
    torch.testing.assert_close(got, torch.tensor(want))
    got = sincos_position_embedding((2, rows, cols), 12)
    want = [sincos_closed_form([g, r, c], 12) for g in range(2) for r in range(rows) for c in range(cols)]
    torch.testing.assert_close(got, torch.tensor(want))
    with pytest.raises(ValueError, match="divisible by 6"):
        sincos_position_embedding((2, rows, cols), 128)


def test_each_token_embeds_only_its_tubelet_laid_out_t_p_q_c():
    vit = tiny_clip_vit()
    clips = torch.randn(2, 4, 3, 8, 8)  # (B, T, C, H, W)
    tokens = vit.tokens(clips)  # (B, G * Hp * Wp, D)
    assert tokens.shape == (2, 2 * 4 * 4, 12) and vit.patch_grid.grid == (2, 4, 4)
    for g, i, j in itertools.product(range(2), range(4), range(4)):
        cube = clips[:, g * T : (g + 1) * T, :, i * P : (i + 1) * P, j * P : (j + 1) * P]  # (B, t, C, p, q)
        flat = cube.permute(0, 1, 3, 4, 2).reshape(2, -1)  # (B, t*p*q*C) in (t, p, q, c) order
        position = torch.tensor(sincos_closed_form([g, i, j], 12))
        want = vit.norm(vit.patch_embed(flat) + position)  # depth 0: embedding, then the norm
        torch.testing.assert_close(tokens[:, g * 16 + i * 4 + j], want)
    changed = clips.clone()
    changed[:, 2:4, :, 2:4, 4:6] += 1.0  # the pixels of tubelet (g=1, i=1, j=2) only
    differs = (vit.tokens(changed) - tokens).abs().amax(dim=(0, 2)) > 0  # (L,)
    assert differs.nonzero().flatten().tolist() == [16 + 1 * 4 + 2]


def test_tokens_follow_the_masking_kernels_patch_order():
    vit = tiny_clip_vit(depth=0)
    clips = torch.randn(2, 4, 3, 8, 8)
    identity = torch.arange(16.0).expand(2, 16)  # rank = patch index: nothing reordered
    visible = mae_random_masking_reference(clips, 0.0, P, noise=identity, tubelet=T).visible  # (B, G*L, P)
    torch.testing.assert_close(patchify(clips, P, T), visible)
    torch.testing.assert_close(vit.tokens(clips), vit.norm(vit.patch_embed(visible) + vit.pos_embed))
    assert torch.equal(unpatchify(visible, P, 3, (4, 8, 8), T), clips)


def test_pooled_outputs_are_means_of_the_tokens():
    vit = tiny_clip_vit(depth=1)
    vit.eval()
    clips = torch.randn(3, 4, 3, 8, 8)
    tokens = vit.tokens(clips)  # (B, G*L, D)
    torch.testing.assert_close(vit(clips), tokens.mean(dim=1))
    torch.testing.assert_close(vit.time_steps(clips), tokens.reshape(3, 2, 16, 12).mean(dim=2))  # (B, G, D)


@pytest.mark.parametrize(("name", "patch"), [("vit_tiny", 2), ("vit_tiny_p4", 4)])
def test_build_backbone_makes_a_tubelet_vit_for_clips(name, patch):
    encoder, dim = build_backbone(name, (4, 16, 16), 3)
    assert isinstance(encoder, VisionTransformer) and dim == 192
    grid = encoder.patch_grid
    assert (grid.tubelet, grid.patch_size, grid.grid) == (T, patch, (2, 16 // patch, 16 // patch))
    assert encoder(torch.randn(2, 4, 3, 16, 16)).shape == (2, 192)


def test_clips_whose_frames_do_not_divide_into_tubelets_are_refused():
    with pytest.raises(ValueError, match="tubelets of 2 frames: clips of 5 frames"):
        build_backbone("vit_tiny", (5, 16, 16), 3)
