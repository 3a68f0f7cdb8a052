"""Small videos with a soundtrack, written with PyAV, whose picture and sound change at a known time:
frames are dark before ``switch_s`` and bright from it on, and a 440 Hz tone starts at the same time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sslcli.domains.video.writing import write_mp4

RATE, TONE_HZ = 16_000, 440.0


def write_switching_clip(
    path: Path, seconds: float = 2.0, switch_s: float = 1.0, fps: int = 25, sound: bool = True
) -> Path:
    """64 x 48 frames, black then white at ``switch_s``; silence then a tone from ``switch_s``."""
    times = np.arange(round(seconds * fps)) / fps
    frames = np.where(times[:, None, None, None] >= switch_s, 255, 0).astype(np.uint8)
    frames = np.broadcast_to(frames, (len(times), 48, 64, 3)).copy()
    t = np.arange(round(seconds * RATE)) / RATE
    tone = np.where(t >= switch_s, 0.5 * np.sin(2 * np.pi * TONE_HZ * t), 0.0).astype(np.float32)
    write_mp4(path, frames, fps, tone if sound else None, RATE)
    return path


def onset_s(waveform: np.ndarray, rate: int, threshold: float = 0.1) -> float:
    """Seconds to the first sample whose magnitude passes ``threshold``."""
    return float(np.flatnonzero(np.abs(waveform) > threshold)[0]) / rate


def dominant_hz(waveform: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(waveform * np.hanning(len(waveform))))
    return float(np.fft.rfftfreq(len(waveform), 1 / rate)[spectrum.argmax()])
