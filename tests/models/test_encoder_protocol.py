"""The encoder contract (``sslcli.models.protocol``): every built-in encoder has ``forward`` and
``tokens(x, mask)``; a ViT hides masked patches from its blocks (a hidden patch's pixels change no
output, a visible one's do), each row of the result is the plain per-sample computation on the visible
patches; encoders whose tokens come out of the network refuse a mask; MAE's tube mask is the same in
every time group and its ids_restore puts [visible, hidden] back in token order."""

from __future__ import annotations

import pytest
import torch
from sslcli.kernels import mae_unshuffle_reference, num_visible

from sslcli.methods.mae import tube_mask
from sslcli.models import build_backbone
from sslcli.models.patch_grid import PatchGrid, patchify
from sslcli.models.protocol import Encoder, patch_grid_of

IMAGE, CLIP = (16, 16), (4, 16, 16)
BUILT_INS = [("resnet10", IMAGE), ("vit_tiny", IMAGE), ("spec_cnn", IMAGE), ("resnet10", CLIP),
             ("vit_tiny", CLIP), ("r3d_18", CLIP)]  # fmt: skip


def batch(size: tuple[int, ...], b: int = 2) -> torch.Tensor:
    return torch.randn(b, *size[:-2], 3, *size[-2:]) if len(size) == 3 else torch.randn(b, 3, *size)


def random_mask(b: int, length: int, hidden: int) -> torch.Tensor:
    """(B, L) bool, ``hidden`` True per row at random places."""
    return torch.rand(b, length).argsort(dim=1).argsort(dim=1) < hidden


@pytest.mark.parametrize(("name", "size"), BUILT_INS)
def test_every_built_in_encoder_keeps_the_contract(name, size):
    torch.manual_seed(0)
    encoder, dim = build_backbone(name, size, 3)
    encoder.eval()
    x = batch(size)
    assert isinstance(encoder, Encoder)
    tokens = encoder.tokens(x)  # (B, N, D)
    assert tokens.ndim == 3 and tokens.shape[::2] == (2, dim)
    torch.testing.assert_close(encoder(x), tokens.mean(dim=1))
    if patch_grid_of(encoder) is None:
        with pytest.raises(ValueError, match="cannot hide masked ones; masked methods need a patch encoder"):
            encoder.tokens(x, torch.zeros(2, tokens.shape[1], dtype=torch.bool))


@pytest.mark.parametrize("size", [IMAGE, CLIP])
def test_a_vit_hides_the_masked_patches_from_its_blocks(size):
    torch.manual_seed(1)
    vit, _ = build_backbone("vit_tiny", size, 3)
    vit.eval()
    grid = vit.patch_grid
    x = batch(size)
    mask = random_mask(2, grid.num_patches, grid.num_patches * 3 // 4)  # (B, N)
    got = vit.tokens(x, mask)  # (B, N / 4, D)
    assert got.shape == (2, grid.num_patches // 4, 192)
    for b in range(2):  # the plain computation, one sample at a time, on its visible patches in order
        rows = (~mask[b]).nonzero().flatten()
        embedded = vit.patch_embed(patchify(x[b : b + 1], grid.patch_size, grid.tubelet)[:, rows])
        embedded = embedded + vit.pos_embed[:, rows]  # (1, N / 4, D)
        for block in vit.blocks:
            embedded = block(embedded)
        torch.testing.assert_close(got[b], vit.norm(embedded)[0], rtol=1e-4, atol=1e-4)
    patches = patchify(x, grid.patch_size, grid.tubelet)  # (B, N, P)
    hidden_changed = patches + 5.0 * mask[..., None]  # only hidden patches' pixels move
    visible_changed = patches + 5.0 * (~mask)[..., None]
    sample_size = x.shape[1:-3] + x.shape[-2:]
    same = vit.tokens(grid.unpatchify(hidden_changed, sample_size), mask)
    other = vit.tokens(grid.unpatchify(visible_changed, sample_size), mask)
    torch.testing.assert_close(same, got)
    assert not torch.allclose(other, got)


def test_a_vit_refuses_a_mask_that_hides_different_counts_or_has_the_wrong_shape():
    vit, _ = build_backbone("vit_tiny", IMAGE, 3)
    x = batch(IMAGE)
    uneven = torch.zeros(2, 64, dtype=torch.bool)
    uneven[0, :5] = True
    with pytest.raises(ValueError, match="the same number of tokens"):
        vit.tokens(x, uneven)
    with pytest.raises(ValueError, match="bool"):
        vit.tokens(x, torch.zeros(2, 63, dtype=torch.bool))


@pytest.mark.parametrize(("grid", "ratio"), [((8, 8), 0.75), ((3, 4, 4), 0.9)])
def test_the_tube_mask_is_the_same_in_every_time_group_and_ids_restore_undoes_the_split(grid, ratio):
    torch.manual_seed(2)
    patches = PatchGrid(grid, 2, 2 if len(grid) == 3 else 1, 3)
    mask, ids_restore = tube_mask(5, patches, ratio, "cpu")  # (B, G*L), (B, L)
    length, groups = patches.spatial_patches, patches.time_groups
    assert mask.shape == (5, groups * length) and ids_restore.shape == (5, length)
    spatial = mask[:, :length]
    assert (spatial.sum(dim=1) == length - num_visible(length, ratio)).all()
    assert torch.equal(mask, spatial.repeat(1, groups))
    assert torch.equal(ids_restore.sort(dim=1).values, torch.arange(length).expand(5, length))
    token_ids = torch.arange(groups * length, dtype=torch.float32).expand(5, -1)[..., None]  # (B, G*L, 1)
    visible = token_ids[~mask].reshape(5, -1, 1)  # (B, G*K, 1): visible tokens in token order
    restored = mae_unshuffle_reference(visible, torch.tensor([-1.0]), ids_restore, time_steps=groups)
    want = torch.where(mask[..., None], -1.0, token_ids)  # each visible token back at its place
    assert torch.equal(restored, want)
