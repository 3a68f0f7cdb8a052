"""Digital silence (every sample below ``SILENCE_PEAK``, -80 dBFS) is not data: a silent stretch of a
long recording or of a soundtrack is a bad item, and silent stretches never move the run's
normalisation; a quiet pause with a noise floor is still data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile
from sslcli.domains import BadItemError
from sslcli.domains.video.writing import write_mp4

from sslcli.registry import DOMAINS
from tests.domains.audio.audio_files import tone, write_tones


def test_a_long_silent_recording_is_bad_items_and_leaves_the_normalisation_alone(tmp_path):
    data = write_tones(tmp_path / "data", per_class=3)
    clean = DOMAINS["audio"]()
    clean.discover(data)
    soundfile.write(data / "silence.wav", np.zeros((120 * 8000, 1), np.float32), 8000)  # 2 minutes
    audio = DOMAINS["audio"]()
    items = [item for item in audio.discover(data) if item.rel_path == "silence.wav"]
    assert len(items) == 120
    for item in items[::17]:
        with pytest.raises(BadItemError, match=r"^silent stretch \(peak below 0\.0001\)$"):
            audio.load(item)
    assert math.isfinite(audio.normalisation.mean) and math.isfinite(audio.normalisation.std)
    assert audio.normalisation == pytest.approx(clean.normalisation)


def test_a_quiet_pause_with_a_noise_floor_is_still_data(tmp_path):
    noise = 1e-3 * np.random.default_rng(0).standard_normal((16_000, 1)).astype(np.float32)  # -60 dBFS
    wave = np.concatenate([tone(440.0, 1.0, 16_000), noise, tone(440.0, 1.0, 16_000)])
    soundfile.write(tmp_path / "pause.wav", wave, 16_000)
    audio = DOMAINS["audio"]()
    assert [audio.load(item)["spectrogram"].shape[-1] for item in audio.discover(tmp_path)] == [101] * 3


def test_a_silent_stretch_of_a_soundtrack_is_a_bad_item(tmp_path):
    t = np.arange(3 * 16_000) / 16_000
    sound = np.where(t >= 2.0, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)
    write_mp4(tmp_path / "quiet_start.mp4", np.full((75, 32, 32, 3), 99, np.uint8), 25, sound)
    domain = DOMAINS["audiovisual"].configured({"segment_s": 1.0})
    first, *rest = domain.discover(tmp_path)
    with pytest.raises(BadItemError, match=r"^silent stretch \(peak below 0\.0001\)$"):
        domain.load(first)
    assert [domain.load(item)["audio"].shape for item in rest[1:]] == [(1, 64, 101)]
