"""Decoding recordings with soundfile (its wheel bundles libsndfile: WAV, FLAC, OGG, MP3), down-mixed
to mono and resampled with torchaudio's band-limited resampler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio.functional as AF
from sslcli.domains.base import BadItemError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
SILENCE_PEAK = 1e-4  # a recording whose every sample stays below this is silent


def read_waveform(path: Path, sample_rate: int) -> torch.Tensor:
    """``path`` -> mono float32 waveform (T,) at ``sample_rate``; a ``BadItemError`` says why not."""
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)  # (T, channels)
    except Exception as err:  # libsndfile rejects corrupt, truncated and unsupported files its own way
        lines = str(err).strip().splitlines()
        raise BadItemError(f"cannot decode audio ({lines[-1] if lines else type(err).__name__})") from None
    if data.shape[0] == 0:
        raise BadItemError("no samples (zero-length audio)")
    if not np.isfinite(data).all():
        raise BadItemError("non-finite samples")
    mono = torch.from_numpy(data.mean(axis=1))  # (T,)
    if rate != sample_rate:
        mono = AF.resample(mono, rate, sample_rate)
    if mono.abs().max() < SILENCE_PEAK:
        raise BadItemError(f"all-silent audio (peak below {SILENCE_PEAK:g})")
    return mono
