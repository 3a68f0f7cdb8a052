"""Pretext transforms produce the labels and targets they claim; clustering and multi-crop helpers."""

import itertools

import pytest
import torch
from sslcli.kernels import mae_random_masking_reference

from sslcli.methods.colorization import channel_statistics, lightness_to_grey, rgb_to_lab, split_lightness
from sslcli.methods.deepcluster import kmeans, pca_whiten, uniform_cluster_weights
from sslcli.methods.denoising import corrupt
from sslcli.methods.inpainting import cut_centre
from sslcli.methods.jigsaw import maximal_hamming_permutations, shuffle_tiles
from sslcli.methods.relative_patch import centre_and_neighbour
from sslcli.methods.rotnet import rotate_all
from sslcli.methods.super_resolution import degrade
from sslcli.methods.tiles import cut_tiles, jitter_crop
from sslcli.models.patch_grid import patchify, unpatchify
from sslcli.registry import DOMAINS


@pytest.fixture
def images():
    torch.manual_seed(0)
    return torch.randn(3, 3, 12, 12)


def test_rotation_label_matches_the_applied_rotation(images):
    rotated, labels = rotate_all(images)
    assert rotated.shape == (12, 3, 12, 12) and labels.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    for row, label in enumerate(labels.tolist()):
        # label k: k quarter turns counter-clockwise, so k clockwise quarter turns restore the image
        restored = rotated[row]
        for _ in range(label):
            restored = restored.transpose(1, 2).flip(2)  # one clockwise quarter turn of (C, H, W)
        assert torch.equal(restored, images[row % 3])


def test_tiles_are_the_grid_cells_in_row_major_order(images):
    tiles = cut_tiles(images)  # 12 px -> 4-px cells
    assert tiles.shape == (3, 9, 3, 4, 4)
    for cell, (r, c) in enumerate(itertools.product(range(3), range(3))):
        assert torch.equal(tiles[:, cell], images[:, :, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4])


def test_jitter_crop_takes_a_window_of_each_tile(images):
    tiles = cut_tiles(images)
    cropped = jitter_crop(tiles, 3)
    for b, n in itertools.product(range(3), range(9)):
        windows = [tiles[b, n, :, i : i + 3, j : j + 3] for i in range(2) for j in range(2)]
        assert any(torch.equal(cropped[b, n], w) for w in windows)


def test_jigsaw_permutations_are_distinct_and_spread():
    perms = maximal_hamming_permutations(30)
    assert perms.shape == (30, 9) and len({tuple(p) for p in perms.tolist()}) == 30
    for p in perms.tolist():
        assert sorted(p) == list(range(9))
    distances = [
        sum(x != y for x, y in zip(a, b, strict=True)) for a, b in itertools.combinations(perms.tolist(), 2)
    ]
    assert min(distances) >= 6  # random pairs of 9-permutations are often much closer


def test_jigsaw_permutation_reassembles_the_image(images):
    perms = maximal_hamming_permutations(10)
    labels = torch.tensor([0, 4, 9])
    shuffled = shuffle_tiles(cut_tiles(images), perms, labels)
    for b in range(3):
        tiles = [None] * 9
        for position, tile_index in enumerate(perms[labels[b]].tolist()):
            tiles[tile_index] = shuffled[b, position]  # put each tile back in its own cell
        rows = [torch.cat(tiles[3 * r : 3 * r + 3], dim=2) for r in range(3)]
        assert torch.equal(torch.cat(rows, dim=1), images[b])


def test_relative_patch_label_names_the_neighbour_position(images):
    labels = torch.tensor([0, 3, 7])  # up-left, left... of the 8 neighbours in row-major order
    offsets = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]
    centre, neighbour = centre_and_neighbour(cut_tiles(images), labels)
    for b, label in enumerate(labels.tolist()):
        dr, dc = offsets[label]
        assert torch.equal(centre[b], images[b, :, 4:8, 4:8])
        assert torch.equal(neighbour[b], images[b, :, 4 + 4 * dr : 8 + 4 * dr, 4 + 4 * dc : 8 + 4 * dc])


def test_inpainting_blanks_the_centre_and_targets_its_pixels(images):
    context, hole = cut_centre(images, 0.5)
    assert torch.equal(hole, images[:, :, 3:9, 3:9])
    assert torch.count_nonzero(context[:, :, 3:9, 3:9]) == 0
    outside = torch.ones(12, 12, dtype=torch.bool)
    outside[3:9, 3:9] = False
    assert torch.equal(context[..., outside], images[..., outside])


def test_lab_conversion_matches_published_values():
    rgb = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    lab = rgb_to_lab(rgb.T[None, :, :, None])[0, :, :, 0].T  # (5, 3)
    expected = torch.tensor(
        [
            [100.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
            [53.24, 80.09, 67.20],  # sRGB red, D65
            [87.73, -86.18, 83.18],  # green
            [32.30, 79.19, -107.86],  # blue
        ]
    )
    assert torch.allclose(lab, expected, atol=0.02)


def test_colorization_input_keeps_the_lightness_and_drops_the_colour():
    natural = DOMAINS["natural"]()
    torch.manual_seed(1)
    rgb = torch.rand(2, 3, 6, 6)
    views = torch.stack([natural.eval_transform(6)(image) for image in rgb])  # normalised as in training
    mean = torch.tensor([0.485, 0.456, 0.406])[None, :, None, None]  # ImageNet's, written out
    std = torch.tensor([0.229, 0.224, 0.225])[None, :, None, None]
    grey, ab = split_lightness(views, *channel_statistics(natural.inputs(6)["image"]))
    grey_lab = rgb_to_lab(grey * std + mean)
    assert torch.allclose(grey_lab[:, 0], rgb_to_lab(rgb)[:, 0], atol=0.05)
    assert grey_lab[:, 1:].abs().max() < 0.05
    assert torch.allclose(ab * 110, rgb_to_lab(rgb)[:, 1:], atol=0.05)
    assert torch.allclose(rgb_to_lab(lightness_to_grey(torch.full((1, 1, 1, 1), 50.0)))[0, :, 0, 0],
                          torch.tensor([50.0, 0.0, 0.0]), atol=0.01)  # fmt: skip


def test_denoising_adds_noise_of_the_requested_strength():
    torch.manual_seed(2)
    clean = torch.zeros(4, 3, 32, 32)
    noisy = corrupt(clean, 0.5)
    assert noisy.std().item() == pytest.approx(0.5, rel=0.05) and noisy.mean().abs() < 0.03


def test_super_resolution_input_is_the_upsampled_block_mean(images):
    low, blurred = degrade(images, 2)
    assert low.shape == (3, 3, 6, 6)
    assert torch.allclose(low[:, :, 1, 2], images[:, :, 2:4, 4:6].mean(dim=(2, 3)), atol=1e-6)
    flat = torch.full((1, 3, 8, 8), 0.7)
    assert torch.allclose(degrade(flat, 4)[1], flat, atol=1e-6)  # a constant image loses nothing
    assert blurred.shape == images.shape


def test_vit_patchify_matches_the_masking_kernels_layout(images):
    patches = patchify(images, 4)  # (3, 9, 48)
    ordered = torch.arange(9.0).expand(3, 9)  # noise ranks patches in index order; ratio 0 keeps all
    reference = mae_random_masking_reference(images, 0.0, 4, noise=ordered).visible
    assert torch.equal(patches, reference)
    assert torch.equal(unpatchify(patches, 4, 3, (12, 12)), images)


def test_kmeans_recovers_separated_blobs_and_reseeds_empty_clusters():
    torch.manual_seed(3)
    blobs = torch.cat([torch.randn(20, 2) * 0.1 + torch.tensor(c) for c in ([0.0, 0.0], [5.0, 5.0])])
    far = torch.tensor([[0.0, 0.0], [100.0, 100.0], [-100.0, 100.0]])  # two centroids attract nothing
    labels = kmeans(blobs, 3, 10, torch.Generator().manual_seed(0), init=far)
    counts = torch.bincount(labels, minlength=3)
    assert (counts > 0).all()  # the empty clusters were re-seeded by splitting populated ones
    two = kmeans(blobs, 2, 10, torch.Generator().manual_seed(0), init=blobs[[0, 39]])
    assert len(set(two[:20].tolist())) == 1 and len(set(two[20:].tolist())) == 1 and two[0] != two[20]


def test_uniform_cluster_weights_give_every_cluster_the_same_mass():
    labels = torch.tensor([0, 0, 0, 2, 1, 1])
    weights = uniform_cluster_weights(labels)
    mass = [weights[labels == c].sum().item() for c in range(3)]
    assert mass == pytest.approx([1 / 3] * 3) and weights.sum().item() == pytest.approx(1.0)


def test_pca_whitening_decorrelates_before_normalising():
    torch.manual_seed(4)
    x = torch.randn(200, 5) @ torch.randn(5, 5)
    centred = x - x.mean(0)
    u, s, vh = torch.linalg.svd(centred, full_matrices=False)
    white = pca_whiten(x, 3)
    expected = torch.nn.functional.normalize(centred @ vh[:3].T / (s[:3] / 199**0.5), dim=1)
    assert white.shape == (200, 3) and torch.allclose(white.abs(), expected.abs(), atol=1e-4)


def test_multi_crop_views_give_global_then_local_crops():
    natural = DOMAINS["natural"]()
    views = natural.configured({"local_crops": 3, "flip_p": 0.0}).views("multi_crop", 32)(
        {"image": torch.rand(3, 20, 20)}
    )
    assert [tuple(v["image"].shape) for v in views] == [(3, 32, 32)] * 2 + [(3, 14, 14)] * 3
    with pytest.raises(ValueError, match="local_crops"):
        natural.parse_options({"local_crops": -1})
