"""Decoding and the log-mel front end against closed forms: the dominant frequency of a tone, the
mel band (HTK mel scale, written here) that holds it, frame counts, and bad files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile
import torch
from sslcli.domains import BadItemError, Item
from sslcli.domains.audio.frontend import fit_frames
from sslcli.domains.audio.reading import read_waveform

from sslcli.registry import DOMAINS
from tests.domains.audio.audio_files import tone


def dominant_frequency(wave: torch.Tensor, rate: int) -> float:
    spectrum = torch.fft.rfft(wave.double()).abs()
    return float(spectrum.argmax()) * rate / len(wave)


@pytest.mark.parametrize(
    ("suffix", "subtype", "rate"),
    [
        ("wav", "PCM_16", 44100),
        ("flac", "PCM_24", 22050),
        ("ogg", "VORBIS", 48000),
        ("mp3", "MPEG_LAYER_III", 32000),
    ],
)
def test_every_format_decodes_to_16k_mono_at_its_pitch(tmp_path, suffix, subtype, rate):
    path = tmp_path / f"a.{suffix}"
    soundfile.write(path, tone(440.0, 1.0, rate, channels=2), rate, subtype=subtype)
    wave = read_waveform(path, 16000)
    assert wave.ndim == 1 and abs(len(wave) - 16000) <= 0.06 * 16000  # MP3 adds encoder padding
    assert dominant_frequency(wave, 16000) == pytest.approx(440.0, abs=2.0)


def test_channels_are_averaged(tmp_path):
    left, right = tone(500.0, 0.5, 16000), tone(500.0, 0.5, 16000, phase=math.pi)  # opposite signs
    soundfile.write(tmp_path / "cancel.wav", np.concatenate([left, right], axis=1), 16000, subtype="FLOAT")
    with pytest.raises(BadItemError, match="all-silent"):  # the mean of +x and -x is silence
        read_waveform(tmp_path / "cancel.wav", 16000)
    soundfile.write(tmp_path / "half.wav", np.concatenate([left, 0 * right], axis=1), 16000, subtype="FLOAT")
    torch.testing.assert_close(read_waveform(tmp_path / "half.wav", 16000), torch.from_numpy(left[:, 0] / 2))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "cannot decode audio"),  # zero bytes
        (b"this is not a recording" * 10, "cannot decode audio"),
        ("truncated", "cannot decode audio"),
        ("silent", "all-silent"),
        ("empty", "zero-length"),
    ],
)
def test_bad_files_are_bad_items_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "bad.wav"
    if content == "truncated":
        soundfile.write(path, tone(300.0, 1.0, 16000), 16000, subtype="PCM_16")
        path.write_bytes(path.read_bytes()[:30])  # the header cut short
    elif content == "silent":
        soundfile.write(path, np.zeros((16000, 1), np.float32), 16000)
    elif content == "empty":
        soundfile.write(path, np.zeros((0, 1), np.float32), 16000)
    else:
        path.write_bytes(content)
    with pytest.raises(BadItemError, match=reason):
        read_waveform(path, 16000)


def htk_mel(hz: float) -> float:
    """O'Shaughnessy's mel scale as HTK defines it: 2595 log10(1 + f / 700)."""
    return 2595 * math.log10(1 + hz / 700)


def test_a_tone_lands_in_the_mel_band_centred_nearest_its_frequency(tmp_path):
    audio = DOMAINS["audio"]()
    soundfile.write(tmp_path / "t.wav", tone(1000.0, 1.0, 16000), 16000, subtype="FLOAT")
    log_mel = audio.log_mel(Item("t.wav", tmp_path / "t.wav", "t.wav"))  # (1, 64, frames)
    assert log_mel.shape == (1, 64, 1 + 16000 // 160)  # centred frames every 10 ms
    low, high = htk_mel(60.0), htk_mel(7800.0)
    centres = [low + (high - low) * (i + 1) / 65 for i in range(64)]  # 64 triangles over 66 points
    expected = min(range(64), key=lambda i: abs(centres[i] - htk_mel(1000.0)))
    assert int(log_mel[0].mean(dim=1).argmax()) == expected


def test_short_clips_are_padded_with_their_floor_and_long_ones_cropped():
    log_mel = torch.arange(12.0).reshape(1, 3, 4)  # (1, M, T)
    padded = fit_frames(log_mel, 6, 0)
    assert torch.equal(padded[..., :4], log_mel) and (padded[..., 4:] == 0).all()  # floor: min = 0
    assert torch.equal(fit_frames(log_mel, 2, 1), log_mel[..., 1:3])
