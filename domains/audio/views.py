"""Augmentations of a normalised log-mel spectrogram (1, M, T) into a view (1, M, frames).

In order: a random segment of the clip (where it starts is the time shift), a random resized crop of
that segment in frequency and time (BYOL-A; Niizumi et al., IJCNN 2021, whose crop may also zoom
out: here it only zooms in), a random gain, a random spectral tilt (a linear equaliser across the
bands, like a microphone's or a room's colouring; CLMR's random filters, Spijkervet & Burgoyne,
ISMIR 2021, colour views the same way with low- and high-pass filters), additive noise at a random
signal-to-noise ratio in the linear power domain, a circular time shift, and SpecAugment's
frequency and time masks (Park et al., Interspeech 2019; masked cells take the view's mean). Mixing
with another clip (BYOL-A's mixup) needs a second clip: ``mix_batch`` does it on whole batches on
the training device, each view with another item's view of the batch, in the linear power domain.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from sslcli.domains.audio.frontend import Normalisation, fit_frames
from sslcli.domains.options import CropScale, Probability, Range, ViewOptions

Count = Annotated[int, Field(ge=0)]


class AudioViewOptions(ViewOptions):
    """Defaults: the segment, resized crop, gain, tilt and shift are on. The tilt keeps the colour of a
    clip's background (its noise, its microphone) from telling clips apart: on the built-in spoken
    digits it lifted SimCLR's kNN on held-out voices from below random init to above it (README).
    Noise, SpecAugment's masks and mixup are off: on the built-in spoken digits each of them, at the
    values BYOL-A and SpecAugment use, kept SimCLR's loss near chance for the first epochs and the
    pretrained kNN below random init (README, "Audio"); mixing with another item of the batch also
    blurs contrastive negatives."""

    freq_scale: CropScale = (0.6, 1.0)  # share of the mel bands a resized crop keeps
    time_scale: CropScale = (0.6, 1.0)  # share of the segment's frames it keeps
    gain_db: Range = (-6.0, 6.0)
    tilt_db: Range = (-10.0, 10.0)  # gain of the highest band; the lowest gets its opposite
    noise_p: Probability = 0.0
    noise_snr_db: Range = (10.0, 40.0)
    shift_frames: Count = 8  # circular shift by up to this many frames either way
    freq_masks: Count = 0  # SpecAugment (LibriSpeech policies): 2 masks
    freq_mask_bins: Count = 8  # SpecAugment's F, scaled to 64 bands
    time_masks: Count = 0  # SpecAugment: 2 masks
    time_mask_frames: Count = 16  # SpecAugment's T, scaled to a 1 s segment
    mixup_ratio: Annotated[float, Field(ge=0, lt=1)] = 0.0  # BYOL-A: 0.4, the other clip's share U(0, 0.4)


def uniform(bounds: tuple[float, float]) -> float:
    low, high = bounds
    return low + (high - low) * torch.rand(()).item()


class AudioAugment:
    """Normalised log-mel (1, M, T) -> one augmented view (1, M, frames)."""

    def __init__(self, frames: int, options: AudioViewOptions, normalisation: Normalisation):
        self.frames, self.opts, self.norm = frames, options, normalisation

    def __call__(self, log_mel: torch.Tensor) -> torch.Tensor:
        opts = self.opts
        start = int(torch.randint(0, max(log_mel.shape[-1] - self.frames, 0) + 1, ()))
        view = self.resized_crop(fit_frames(log_mel, self.frames, start))  # (1, M, frames)
        view = view + uniform(opts.gain_db) / self.norm.std
        view = view + self.tilt(view.shape[1], uniform(opts.tilt_db))
        if torch.rand(()) < opts.noise_p:
            view = self.add_noise(view, uniform(opts.noise_snr_db))
        if opts.shift_frames:
            view = view.roll(int(torch.randint(-opts.shift_frames, opts.shift_frames + 1, ())), dims=-1)
        return self.mask(view)

    def resized_crop(self, view: torch.Tensor) -> torch.Tensor:
        _, bands, frames = view.shape
        height = max(1, round(bands * uniform(self.opts.freq_scale)))
        width = max(1, round(frames * uniform(self.opts.time_scale)))
        top = int(torch.randint(0, bands - height + 1, ()))
        left = int(torch.randint(0, frames - width + 1, ()))
        crop = view[:, top : top + height, left : left + width]  # (1, h, w)
        return F.interpolate(crop[None], size=(bands, frames), mode="bilinear", align_corners=False)[0]

    def tilt(self, bands: int, edge_db: float) -> torch.Tensor:
        """(1, M, 1) normalised offsets rising linearly from -edge_db (lowest band) to +edge_db."""
        return edge_db * torch.linspace(-1.0, 1.0, bands)[None, :, None] / self.norm.std

    def add_noise(self, view: torch.Tensor, snr_db: float) -> torch.Tensor:
        """Noise whose mean power is the view's divided by 10^(SNR/10), with a random texture."""
        power = 10 ** ((view * self.norm.std + self.norm.mean) / 10)  # (1, M, frames) linear
        noise = power.mean() / 10 ** (snr_db / 10) * torch.rand_like(power) * 2
        return (10 * torch.log10(power + noise) - self.norm.mean) / self.norm.std

    def mask(self, view: torch.Tensor) -> torch.Tensor:
        view, fill = view.clone(), view.mean()
        for count, width, axis in (
            (self.opts.freq_masks, self.opts.freq_mask_bins, 1),
            (self.opts.time_masks, self.opts.time_mask_frames, 2),
        ):
            size = view.shape[axis]
            for _ in range(count):
                span = int(torch.randint(0, min(width, size) + 1, ()))
                first = int(torch.randint(0, size - span + 1, ()))
                view.narrow(axis, first, span).fill_(fill)
        return view


def mix_batch(views: torch.Tensor, ratio: float, norm: Normalisation) -> torch.Tensor:
    """BYOL-A's mixup on a batch of normalised log-mels (B, 1, M, T): each item's power spectrum mixed
    with another item's, (1 - l) P + l P_other with l ~ U(0, ratio) per item, back in dB."""
    if ratio == 0 or len(views) < 2:
        return views
    share = ratio * torch.rand(len(views), 1, 1, 1, device=views.device)  # (B, 1, 1, 1)
    others = views[torch.randperm(len(views), device=views.device)]  # (B, 1, M, T)
    power, other_power = (10 ** ((x * norm.std + norm.mean) / 10) for x in (views, others))
    mixed = (1 - share) * power + share * other_power
    return (10 * torch.log10(mixed) - norm.mean) / norm.std
