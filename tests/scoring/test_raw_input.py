"""The raw-input baseline: small inputs are their flattened values; larger ones are averaged over
blocks (checked against reshape-and-mean), never more than RAW_MAX_DIMS features."""

from __future__ import annotations

import torch

from sslcli.engine.features import SideBySide
from sslcli.scoring.raw_input import RAW_MAX_DIMS, RawInput


def test_a_small_input_is_its_flattened_values():
    images = torch.rand(5, 3, 16, 16)
    assert torch.equal(RawInput()(images), images.reshape(5, -1))


def test_a_large_image_is_averaged_over_blocks():
    images = torch.rand(2, 1, 128, 128)  # 16384 values: a 64 x 64 grid of 2 x 2 blocks fits 4096
    expected = images.reshape(2, 1, 64, 2, 64, 2).mean(dim=(3, 5)).reshape(2, -1)
    torch.testing.assert_close(RawInput()(images), expected)


def test_a_large_colour_image_keeps_its_aspect_and_fits():
    features = RawInput()(torch.rand(2, 3, 224, 112))
    assert features.shape[1] <= RAW_MAX_DIMS and features.shape[1] % 3 == 0


def test_clips_are_averaged_over_consecutive_values():
    clips = torch.rand(3, 4, 1, 32, 64)  # (B, T, C, H, W): 8192 values -> 4096 means of pairs
    expected = clips.reshape(3, RAW_MAX_DIMS, 2).mean(dim=2)
    torch.testing.assert_close(RawInput()(clips), expected)


def test_side_by_side_splits_back_into_each_encoders_features():
    encoders = {"raw": RawInput(), "mean": torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 7))}
    both = SideBySide(encoders)
    images = torch.rand(4, 3, 4, 4)
    parts = both.split(both(images))
    assert torch.equal(parts["raw"], images.reshape(4, -1))
    torch.testing.assert_close(parts["mean"], encoders["mean"](images))
