"""The log-mel front end and the per-data-set normalisation.

Defaults in the BYOL-A / COLA range (Niizumi et al., "BYOL for Audio", IJCNN 2021; Saeed et al.,
"Contrastive Learning of General-Purpose Audio Representations", ICASSP 2021): 16 kHz, 64 mel bands
from 60 to 7800 Hz, 25 ms windows every 10 ms, power in dB. The data set's mean and standard
deviation of those dB values are measured once per run (on real frames, never on padding) and kept
with the run, so that embed and eval normalise as training did.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchaudio.transforms as AT

FLOOR_DB = -80.0  # AmplitudeToDB's range below each clip's peak; padding frames get the floor


@dataclass(frozen=True)
class Normalisation:
    mean: float = 0.0
    std: float = 1.0

    def apply(self, log_mel: torch.Tensor) -> torch.Tensor:
        return (log_mel - self.mean) / self.std


class LogMel:
    """Waveform (T,) -> log-mel power (1, n_mels, frames) in dB, at most ``-FLOOR_DB`` below its peak."""

    def __init__(
        self, sample_rate: int, n_mels: int, f_min: float, f_max: float, window_ms: float, hop_ms: float
    ):
        window, hop = round(sample_rate * window_ms / 1000), round(sample_rate * hop_ms / 1000)
        self.mel = AT.MelSpectrogram(
            sample_rate=sample_rate, n_fft=window, win_length=window, hop_length=hop,
            f_min=f_min, f_max=f_max, n_mels=n_mels, power=2.0,
        )  # fmt: skip
        self.to_db = AT.AmplitudeToDB(stype="power", top_db=-FLOOR_DB)

    def __call__(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.to_db(self.mel(waveform))[None]  # (1, n_mels, frames)


def measure(log_mels: list[torch.Tensor]) -> Normalisation:
    """Mean and standard deviation of every value of ``log_mels`` (each (1, n_mels, frames))."""
    values = torch.cat([log_mel.flatten() for log_mel in log_mels]).double()
    return Normalisation(float(values.mean()), float(values.std().clamp_min(1e-6)))


def fit_frames(log_mel: torch.Tensor, frames: int, start: int) -> torch.Tensor:
    """``frames`` frames of ``log_mel`` (1, M, T) from ``start``; a clip shorter than that is padded
    at its end with its own floor (its quietest value)."""
    short = frames - log_mel.shape[-1]
    if short > 0:
        floor = log_mel.min()
        log_mel = torch.cat([log_mel, floor.expand(*log_mel.shape[:-1], short)], dim=-1)
    return log_mel[..., start : start + frames]
