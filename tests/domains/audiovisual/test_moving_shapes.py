"""The audiovisual sample: the tone's pitch follows the shape's height, read back from the pixels and
the waveform independently, and the written files hold both streams with the split sizes stated."""

from __future__ import annotations

import numpy as np
import pytest
from sslcli.domains.audiovisual.moving_shapes import (
    CLIPS,
    FPS,
    LOW_HZ,
    OCTAVES,
    SAMPLE_RATE,
    SHAPES,
    SIDE,
    moving_shape_clip,
)
from sslcli.domains.video.reading import probe

from sslcli.registry import DOMAINS
from tests.domains.audiovisual.av_files import dominant_hz


def shape_height(frames: np.ndarray, k: int) -> float:
    """Row of the shape's centroid in frame k: the pixels of its one flat colour, the most common colour
    among the pixels far from the clip's median (the background, as the shape moves on)."""
    background = np.median(frames, axis=0)  # (H, W, 3)
    moved = np.abs(frames[k].astype(float) - background).max(axis=-1) > 25  # (H, W)
    colours, counts = np.unique(frames[k][moved], axis=0, return_counts=True)
    rows, _ = np.nonzero((frames[k] == colours[counts.argmax()]).all(axis=-1))
    return float(rows.mean()) + 0.5  # pixel centres


@pytest.mark.parametrize(("shape", "seed"), [("circle", 3), ("square", 4)])
def test_the_pitch_follows_the_shape_height(shape, seed):
    frames, sound = moving_shape_clip(shape, np.random.default_rng(seed))
    window = 2048
    for k in range(4, len(frames) - 4, 6):
        centre = round(k / FPS * SAMPLE_RATE)
        heard = dominant_hz(sound[centre - window // 2 : centre + window // 2], SAMPLE_RATE)
        seen = LOW_HZ * 2 ** (OCTAVES * (1 - shape_height(frames, k) / SIDE))  # high on screen: high pitch
        assert abs(np.log2(heard / seen)) < 0.15, (k, heard, seen)


def test_the_sample_holds_both_streams_in_every_file():
    train, test = DOMAINS["audiovisual"]().builtin_sample()
    for root, split in ((train, "train"), (test, "test")):
        assert {p.name for p in root.iterdir()} == set(SHAPES)
        files = sorted(root.rglob("*.mp4"))
        assert len(files) == CLIPS[split] * len(SHAPES)
        for path in files[:: len(files) // 4]:
            info = probe(path)
            assert info.has_audio and info.duration_s == pytest.approx(2.0, abs=0.05)
