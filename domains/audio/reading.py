"""Decoding recordings with soundfile (its wheel bundles libsndfile: WAV, FLAC, OGG, MP3), down-mixed
to mono and resampled with torchaudio's band-limited resampler. Only the stretch asked for is decoded
(libsndfile seeks), so one segment of a long recording costs one segment's decoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio.functional as AF
from sslcli.domains.discovery import BadItemError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
SILENCE_PEAK = 1e-4  # -80 dBFS: digital silence (a real pause has a noise floor above it)


def duration_s(path: Path) -> float | None:
    """The recording's length in seconds from its header, or None when the header is unreadable."""
    try:
        info = soundfile.info(str(path))
    except Exception:  # load reports why, with the file's name
        return None
    return info.frames / info.samplerate if info.samplerate > 0 else None


def read_waveform(path: Path, sample_rate: int, span: tuple[float, float] | None = None) -> torch.Tensor:
    """``path`` (or its ``span`` in seconds) -> mono float32 waveform (T,) at ``sample_rate``; a
    ``BadItemError`` says why not, digital silence included (``refuse_silence``)."""
    try:
        with soundfile.SoundFile(str(path)) as handle:
            rate = handle.samplerate
            if span is not None:
                handle.seek(min(round(span[0] * rate), handle.frames))
            frames = -1 if span is None else round((span[1] - span[0]) * rate)
            data = handle.read(frames, dtype="float32", always_2d=True)  # (T, channels)
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
    return refuse_silence(mono, whole=span is None)


def refuse_silence(waveform: torch.Tensor, whole: bool) -> torch.Tensor:
    """``waveform`` (T,), unless every sample stays below ``SILENCE_PEAK``: a silent recording (``whole``)
    or a silent stretch of one is a bad item, so that it is neither trained on nor measured."""
    if waveform.abs().max() < SILENCE_PEAK:
        what = "all-silent audio" if whole else "silent stretch"
        raise BadItemError(f"{what} (peak below {SILENCE_PEAK:g})")
    return waveform
