"""The audio domain: recordings found by extension, decoded to 16 kHz mono and turned into
normalised log-mel spectrograms; one input of kind ``spectrogram``, (1, n_mels, frames).

Recordings of at least two ``segment_s`` are cut into consecutive segments of ``segment_s`` (the last
one runs to the end), one item each: an epoch draws a view from every segment of a long recording,
and embed writes a row per segment with its start and end seconds (and a pooled row per file).
Shorter recordings are one item. ``input_size`` is what the encoder sees, in frames (96 frames of
10 ms: about 1 s). Training takes a random stretch of the item per view; embed and eval the middle.
The front end's settings (``AudioSettings``) are fixed for a run, like the normalisation statistics,
which are measured on up to ``STATS_CLIPS`` items spread over the data set when the run starts and
saved with it.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import torch
from pydantic import Field, model_validator
from sslcli.domains.audio.frontend import LogMel, Normalisation, fit_frames, measure
from sslcli.domains.audio.reading import AUDIO_SUFFIXES, duration_s, read_waveform
from sslcli.domains.audio.spoken_digits import materialise_spoken_digits
from sslcli.domains.audio.views import AudioAugment, AudioViewOptions, mix_batch
from sslcli.domains.base import (
    SAMPLE_CPU_BUDGET_S,
    Domain,
    DomainError,
    InputSpec,
    Item,
    Sample,
    segment_bounds,
)
from sslcli.domains.discovery import BadItemError, Entry, discover_files, refuse_unusable
from sslcli.domains.options import MultiCropOptions, ViewOptions
from typing_extensions import Self

STATS_FILE = "audio_normalisation.json"
STATS_CLIPS = 64
FOLDER_REASON = "a directory, not an audio file"


class FrontEndSettings(ViewOptions):
    """The log-mel front end, fixed for a run (see ``frontend``)."""

    sample_rate: Annotated[int, Field(ge=8000)] = 16_000
    n_mels: Annotated[int, Field(ge=8, le=256)] = 64
    f_min: Annotated[float, Field(ge=0)] = 60.0
    f_max: Annotated[float, Field(gt=0)] = 7800.0
    window_ms: Annotated[float, Field(gt=0)] = 25.0
    hop_ms: Annotated[float, Field(gt=0)] = 10.0

    @model_validator(mode="after")
    def _band_fits(self) -> Self:
        if not self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(f"need f_min < f_max <= sample_rate / 2 ({self.sample_rate / 2:g} Hz)")
        return self


class AudioSettings(FrontEndSettings):
    """The front end and how recordings are cut, fixed for a run."""

    segment_s: Annotated[float, Field(gt=0)] = 1.0  # recordings of 2+ segments are cut into these


@dataclass(frozen=True)
class AudioSegment(Item):
    """``[start_s, end_s)`` of a recording; the whole of a short one."""

    start_s: float = 0.0
    end_s: float = 0.0

    def span(self) -> tuple[float, float]:
        return self.start_s, self.end_s


def segments(entry: Entry, segment_s: float) -> list[Item]:
    """The items of one entry named like a recording: one saying why for anything but a regular file
    (whose header alone is read), whole if shorter than two segments (or its header is unreadable:
    loading it says why), else consecutive ``segment_s`` stretches, the last running to the end."""
    if entry.problem or entry.folder:
        return [entry.item(FOLDER_REASON)]
    path, rel = entry.path, entry.rel
    duration = duration_s(path)
    if duration is None or duration < 2 * segment_s:
        return [Item(rel, path, rel)]
    bounds = segment_bounds(duration, segment_s)
    return [AudioSegment(f"{rel}@{start:.3f}s", path, rel, None, start, end) for start, end in bounds]


def log_mel_record(front_end: FrontEndSettings, normalisation: Normalisation, frames: int) -> dict[str, Any]:
    """What the eval sample of a log-mel input is, for ``Domain.preprocessing``."""
    decode = (
        f"mono waveform at {front_end.sample_rate} Hz -> torchaudio MelSpectrogram (power 2; n_fft and "
        "win_length = window_ms, hop_length = hop_ms, in samples) -> AmplitudeToDB(power, top_db 80): "
        "(1, n_mels, frames)"
    )
    return {
        "decode": decode,
        "steps": ["decode", "normalize", "frames"],
        "front_end": {name: getattr(front_end, name) for name in FrontEndSettings.model_fields},
        "normalize": {"mean": [normalisation.mean], "std": [normalisation.std]},
        "frames": f"{frames} frames from the middle; a shorter clip is padded at its end with its minimum",
    }


def read_normalisation(run_dir: Path, create: bool) -> Normalisation | None:
    """The run's saved log-mel statistics; None for a run being created that has none yet."""
    path = run_dir / STATS_FILE
    if path.is_file():
        try:
            return Normalisation(**json.loads(path.read_text()))
        except (ValueError, TypeError) as err:
            raise DomainError(f"{path}: unreadable normalisation statistics ({err})") from None
    if not create:
        raise DomainError(f"{run_dir}: no {STATS_FILE} (the run's audio statistics); was it pretrained here?")
    return None


def save_normalisation(run_dir: Path, normalisation: Normalisation | None) -> None:
    """Write the statistics once, atomically (a half-written file would refuse every restart)."""
    path = run_dir / STATS_FILE
    if path.is_file() or normalisation is None:
        return
    partial = path.with_name(f".{STATS_FILE}.partial")  # a killed write's leftover is cleaned up
    partial.write_text(json.dumps(vars(normalisation)) + "\n")
    os.replace(partial, path)


def measure_items(items: list[Item], log_mel: Callable[[Item], torch.Tensor]) -> Normalisation:
    """Statistics of the log-mels (``log_mel(item)``, in dB) of up to ``STATS_CLIPS`` items spread
    evenly over ``items``; bad items (files that do not decode, silent stretches) are passed over here
    and reported by training."""
    step = max(1, len(items) // STATS_CLIPS)
    log_mels = []
    for item in items[::step][:STATS_CLIPS]:
        try:
            refuse_unusable(item)
            log_mels.append(log_mel(item))
        except BadItemError:
            continue
    return measure(log_mels) if log_mels else Normalisation()


@functools.cache
def front_end(settings: FrontEndSettings) -> LogMel:
    """The run's log-mel transform, built once per setting (its mel filter bank is reused)."""
    return LogMel(
        settings.sample_rate,
        settings.n_mels,
        settings.f_min,
        settings.f_max,
        settings.window_ms,
        settings.hop_ms,
    )


class AudioOptions(AudioSettings, AudioViewOptions, MultiCropOptions):
    """Every ``views`` option of recordings."""


class AudioDomain(Domain):
    Options = AudioOptions
    name = "audio"
    description = "recordings (wav, flac, ogg, mp3) as log-mel spectrograms, 16 kHz mono"
    default_input_size = 96
    input_size_unit = " frames"
    default_backbone = "spec_cnn"

    def __init__(self) -> None:
        super().__init__()
        self.normalisation: Normalisation | None = None  # measured on discovery, or the run's

    def bind_run(self, run_dir: Path, create: bool) -> None:
        self.normalisation = read_normalisation(run_dir, create) or self.normalisation

    def save_run_state(self, run_dir: Path) -> None:
        save_normalisation(run_dir, self.normalisation)

    def discovery_options(self) -> float:
        return self.options.segment_s

    def inputs(self, input_size: int) -> dict[str, InputSpec]:
        return {"spectrogram": InputSpec("spectrogram", 1, (self.options.n_mels, input_size))}

    def discover(self, root: Path) -> list[Item]:
        entries, segment_s = discover_files(root, AUDIO_SUFFIXES), self.options.segment_s
        items = [item for entry in entries for item in segments(entry, segment_s)]
        if self.normalisation is None and items:
            self.normalisation = measure_items(items, self.log_mel)
        return items

    def log_mel(self, item: Item) -> torch.Tensor:
        """The clip's log-mel power in dB (1, n_mels, frames), not normalised."""
        waveform = read_waveform(item.path, self.options.sample_rate, item.span())
        return front_end(self.options)(waveform)

    def load(self, item: Item, inputs: Collection[str] | None = None) -> Sample:
        normalisation = self.normalisation or Normalisation()
        return {"spectrogram": normalisation.apply(self.log_mel(item))}  # (1, n_mels, frames)

    def augment(self, input_size: int, options: AudioOptions) -> AudioAugment:
        return AudioAugment(input_size, options, self.normalisation or Normalisation())

    def batch_augment(self, views: list[Sample]) -> list[Sample]:
        """BYOL-A's mixup of each view with another item's (``mix_batch``), on the training device."""
        ratio, norm = self.options.mixup_ratio, self.normalisation or Normalisation()
        return [{"spectrogram": mix_batch(view["spectrogram"], ratio, norm)} for view in views]

    def eval_transform(self, input_size: int):
        def middle(log_mel: torch.Tensor) -> torch.Tensor:  # (1, M, T) -> (1, M, input_size)
            return fit_frames(log_mel, input_size, max(log_mel.shape[-1] - input_size, 0) // 2)

        return middle

    def preprocessing(self, input_size: int) -> dict[str, dict[str, Any]]:
        record = log_mel_record(self.options, self.normalisation or Normalisation(), input_size)
        return {"spectrogram": record}

    def builtin_sample(self) -> tuple[Path, Path]:
        return materialise_spoken_digits()

    def recipe(
        self, data_is_builtin: bool, items: Sequence[Item] = (), device_type: str = "cpu"
    ) -> dict[str, Any]:
        views = {**AudioSettings().model_dump(), **AudioViewOptions().model_dump()}
        recipe = {"input_size": self.default_input_size, "backbone": self.default_backbone, "views": views}
        if data_is_builtin:  # 1800 clips: batches of 64 give 28 steps an epoch, 6 epochs ~5 CPU minutes
            recipe.update(epochs=6, batch_size=64, lr=2e-3, cpu_budget_s=SAMPLE_CPU_BUDGET_S)
        return recipe
