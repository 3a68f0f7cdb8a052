"""VideoMAE against plain references: the encoder embeds only the visible tubelets (10% of the spatial
patches, the same ones in every time group: tube masking); the loss is a loop over the hidden tubelets
of the per-tubelet normalised pixel MSE; the reconstruction picture shows clips' frames unless the data
may identify people."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from sslcli.engine.domain_setup import configured_domain, lookup_method
from sslcli.methods import StepContext
from sslcli.methods.video_mae import VideoMAE
from sslcli.models import build_backbone
from sslcli.registry import METHODS

B, FRAMES, SIDE, TUBELET, PATCH = 3, 4, 16, 2, 2  # vit_tiny on 16 px: 2-px patches, an 8x8 grid
GROUPS, WP = FRAMES // TUBELET, SIDE // PATCH
KEEP = int(WP * WP * (1 - 0.9))  # 6 of 64 patches per time group


def tubelet(clips: torch.Tensor, b: int, g: int, i: int, j: int) -> list[float]:
    """The pixels of tubelet (g, i, j) of clip b, in (t, p, q, c) order, by plain indexing."""
    return [
        float(clips[b, g * TUBELET + t, c, i * PATCH + y, j * PATCH + x])
        for t, y, x, c in itertools.product(range(TUBELET), range(PATCH), range(PATCH), range(3))
    ]


def normalised(values: list[float]) -> list[float]:
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return [(v - mean) / math.sqrt(var + 1e-6) for v in values]


def matched_cells(vit, clips: torch.Tensor, encoded: torch.Tensor) -> list[list[tuple[int, int, int]]]:
    """For each clip, the tubelet (g, i, j) whose embedding plus position each row of the encoder's first
    block input (B, n, D) holds, worked out from the tubelet's pixels by plain indexing."""
    cells: list[list[tuple[int, int, int]]] = [[] for _ in range(B)]
    with torch.no_grad():
        for b, row in itertools.product(range(B), range(encoded.shape[1])):
            for g, i, j in itertools.product(range(GROUPS), range(WP), range(WP)):
                position = vit.pos_embed[0, g * WP * WP + i * WP + j]
                want = vit.patch_embed(torch.tensor(tubelet(clips, b, g, i, j))) + position
                if torch.allclose(encoded[b, row], want, atol=1e-5):
                    cells[b].append((g, i, j))
    return cells


def visible_cells(vit, clips: torch.Tensor, encoded: torch.Tensor) -> list[list[set]]:
    """For each clip and time group, the (i, j) of the tubelets the encoder's blocks saw."""
    cells = [[set() for _ in range(GROUPS)] for _ in range(B)]
    for b, rows in enumerate(matched_cells(vit, clips, encoded)):
        for g, i, j in rows:
            cells[b][g].add((i, j))
    return cells


@pytest.fixture
def videomae():
    torch.manual_seed(0)
    backbone, dim = build_backbone("vit_tiny", (FRAMES, SIDE, SIDE), 3)
    return VideoMAE(backbone, dim, decoder_depth=1)


def test_videomae_is_registered_for_clips_only_with_its_paper_defaults():
    cls = METHODS["videomae"]
    assert cls is VideoMAE and cls.accepts == ("clip",) and cls.default_backbone == "vit_tiny"
    assert cls.paper == "Tong et al., NeurIPS 2022"
    assert lookup_method("videomae", configured_domain("video")) is VideoMAE
    torch.manual_seed(0)
    backbone, dim = build_backbone("vit_tiny", (FRAMES, SIDE, SIDE), 3)
    assert VideoMAE(backbone, dim).mask_ratio == 0.9


def test_the_encoder_sees_the_same_visible_patches_in_every_time_group(videomae):
    clips = torch.randn(B, FRAMES, 3, SIDE, SIDE)  # (B, T, C, H, W)
    vit, encoded = videomae.backbone, []
    vit.blocks[0].register_forward_pre_hook(lambda m, args: encoded.append(args[0].detach()))
    videomae([{"video": clips}], StepContext())
    assert encoded[0].shape == (B, GROUPS * KEEP, 192)  # 10% of each time group's 64 patches
    for rows in matched_cells(vit, clips, encoded[0]):
        assert len(rows) == GROUPS * KEEP and rows == sorted(rows)  # every row one tubelet, in token order
        per_group = [{(i, j) for h, i, j in rows if h == g} for g in range(GROUPS)]
        assert len(per_group[0]) == KEEP and all(cells == per_group[0] for cells in per_group)
    encoded.clear()
    assert vit(clips).shape == (B, 192) and encoded[0].shape == (B, GROUPS * 64, 192)


def test_the_loss_is_a_loop_over_the_hidden_tubelets(videomae):
    clips = torch.randn(B, FRAMES, 3, SIDE, SIDE)
    encoded, predicted = [], []
    videomae.backbone.blocks[0].register_forward_pre_hook(lambda m, args: encoded.append(args[0].detach()))
    videomae.decoder.register_forward_hook(lambda m, args, out: predicted.append(out.detach()))
    loss = videomae([{"video": clips}], StepContext()).loss
    cells = visible_cells(videomae.backbone, clips, encoded[0])
    errors = []
    for b, g, i, j in itertools.product(range(B), range(GROUPS), range(WP), range(WP)):
        if (i, j) in cells[b][g]:
            continue
        target = normalised(tubelet(clips, b, g, i, j))
        row = predicted[0][b, g * WP * WP + i * WP + j].tolist()  # the decoder's tokens: time group first
        errors.append(sum((p - t) ** 2 for p, t in zip(row, target, strict=True)) / len(target))
    assert len(errors) == B * GROUPS * (WP * WP - KEEP)
    assert loss.item() == pytest.approx(sum(errors) / len(errors), rel=1e-5)


def test_videomae_refuses_backbones_other_than_a_vit():
    for name in ("r3d_18", "resnet10"):
        backbone, dim = build_backbone(name, (FRAMES, SIDE, SIDE), 3)
        with pytest.raises(ValueError, match="videomae needs an encoder whose tokens are patches"):
            VideoMAE(backbone, dim)


def test_the_reconstruction_picture_shows_frames_unless_the_data_may_identify_people(videomae, tmp_path):
    clips = torch.randn(B, FRAMES, 3, SIDE, SIDE)
    masked, restored = videomae.reconstruct(clips)  # (B, T, C, H, W) each
    hidden = (masked == 0).all(dim=2)  # (B, T, H, W): the tubes blanked in the input
    assert all(torch.equal(hidden[:, f], hidden[:, 0]) for f in range(FRAMES))  # the same in every frame
    assert hidden[:, 0].float().mean().item() == pytest.approx(1 - KEEP / 64)
    keep = ~hidden[:, :, None].expand_as(clips)
    assert torch.equal(restored[keep], clips[keep]) and torch.equal(masked[keep], clips[keep])
    videomae([{"video": clips}], StepContext())  # keeps a preview of the batch
    assert videomae.on_train_end(show_samples=False) == {}
    picture = videomae.on_train_end(show_samples=True)["videomae_reconstruction"]  # (3, H, W)
    tile = 64 + 2  # frames upscaled to 64 px, 2 px padding
    assert picture.shape == (3, 3 * B * tile + 2, FRAMES * tile + 2)  # a row of frames per clip and stage
