"""Audio views: the segment, gain and SpecAugment masks in closed form, shapes of short and long clips."""

from __future__ import annotations

import math

import pytest
import torch
from sslcli.domains.audio.frontend import Normalisation
from sslcli.domains.audio.views import AudioAugment, AudioViewOptions, mix_batch

OFF = dict(
    freq_scale=(1.0, 1.0), time_scale=(1.0, 1.0), gain_db=(0.0, 0.0), tilt_db=(0.0, 0.0), noise_p=0.0,
    shift_frames=0, freq_masks=0, time_masks=0,
)  # fmt: skip
NORM = Normalisation(mean=-30.0, std=12.0)


def augment(frames: int = 20, **options) -> AudioAugment:
    return AudioAugment(frames, AudioViewOptions(**{**OFF, **options}), NORM)


def test_without_augmentation_a_view_is_a_segment_of_the_clip():
    torch.manual_seed(0)
    clip = torch.randn(1, 64, 50)
    view = augment()(clip)
    starts = [s for s in range(31) if torch.equal(view, clip[..., s : s + 20])]
    assert view.shape == (1, 64, 20) and len(starts) == 1


def test_short_clips_give_full_size_views():
    assert augment()(torch.randn(1, 64, 7)).shape == (1, 64, 20)
    assert AudioAugment(20, AudioViewOptions(), NORM)(torch.randn(1, 64, 7)).shape == (1, 64, 20)


def test_gain_adds_decibels_in_normalised_units():
    clip = torch.randn(1, 64, 20)
    torch.testing.assert_close(augment(gain_db=(6.0, 6.0))(clip), clip + 6.0 / NORM.std)


def test_tilt_is_a_line_through_the_middle_band_reaching_the_drawn_decibels_at_the_edges():
    clip = torch.randn(1, 63, 20)
    offset = augment(tilt_db=(9.0, 9.0))(clip) - clip  # (1, 63, 20)
    torch.testing.assert_close(offset, offset[:, :, :1].expand_as(offset))  # the same in every frame
    in_db = offset[0, :, 0] * NORM.std  # (63,)
    assert in_db[0].item() == pytest.approx(-9.0, abs=1e-4)
    assert in_db[-1].item() == pytest.approx(9.0, abs=1e-4)
    assert in_db[31].item() == pytest.approx(0.0, abs=1e-4)
    steps = in_db.diff()
    torch.testing.assert_close(steps, torch.full_like(steps, 18.0 / 62), rtol=0, atol=1e-4)


def test_spec_augment_masks_whole_bands_and_frames_with_the_mean():
    torch.manual_seed(3)
    clip = torch.randn(1, 64, 20)
    view = augment(freq_masks=2, freq_mask_bins=8, time_masks=2, time_mask_frames=5)(clip)
    changed = view != clip  # (1, 64, 20)
    bands = changed.all(dim=2)[0]  # bands masked over every frame
    frames = changed.all(dim=1)[0]
    assert bands.sum() <= 16 and frames.sum() <= 10 and (bands.any() or frames.any())
    assert (changed[0] == (bands[:, None] | frames[None, :])).all()  # nothing else changed
    assert view[changed].unique().numel() <= 2  # one fill value per pass (the view's mean then)


def test_mixup_mixes_power_spectra_of_two_items_of_the_batch():
    """BYOL-A: log((1 - l) P + l P_other) lies between the two clips' levels, moves each item no more
    than its share allows, and leaves a batch of equal clips unchanged."""
    torch.manual_seed(5)
    same = torch.randn(1, 1, 64, 20).expand(4, -1, -1, -1)
    torch.testing.assert_close(mix_batch(same, 0.4, NORM), same, rtol=1e-5, atol=1e-5)
    quiet, loud = torch.full((1, 1, 64, 20), -1.0), torch.full((1, 1, 64, 20), 1.0)
    batch = torch.cat([quiet, loud])  # (2, 1, 64, 20): each item's other is the other one
    mixed = mix_batch(batch, 0.4, NORM)
    assert (mixed[0] >= -1).all() and (mixed[1] <= 1).all()
    at_most = 10 * math.log10(0.6 + 0.4 * 10 ** (2 * NORM.std / 10)) / NORM.std  # share 0.4 at most
    assert (mixed[0] + 1 <= at_most + 1e-5).all()
    torch.testing.assert_close(mix_batch(batch, 0.0, NORM), batch)
