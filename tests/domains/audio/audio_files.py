"""Recordings the audio tests write with soundfile: tones of two pitch classes, in every format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile


def tone(frequency: float, seconds: float, rate: int, channels: int = 1, phase: float = 0.0) -> np.ndarray:
    """A sine of ``frequency`` Hz, amplitude 0.5, (samples, channels) float32."""
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * frequency * t + phase)
    return np.repeat(wave[:, None], channels, axis=1).astype(np.float32)


def write_tones(folder: Path, per_class: int = 6) -> Path:
    """``folder/{low,high}/*`` tones (220-330 Hz and 1.8-2.7 kHz, 0.5-1.5 s, some stereo, at 8, 16,
    22.05 and 44.1 kHz) in WAV, FLAC, OGG and MP3, with a little noise."""
    rng = np.random.default_rng(0)
    formats = (("wav", "PCM_16"), ("flac", "PCM_16"), ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III"))
    for label, base in (("low", 220.0), ("high", 1800.0)):
        (folder / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rate = (8000, 16000, 22050, 44100)[i % 4]
            suffix, subtype = formats[i % 4]
            wave = tone(base * (1 + 0.5 * rng.random()), 0.5 + rng.random(), rate, channels=1 + i % 2)
            wave += 0.01 * rng.standard_normal(wave.shape).astype(np.float32)
            soundfile.write(folder / label / f"{i}.{suffix}", wave, rate, subtype=subtype)
    return folder
