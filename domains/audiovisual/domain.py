"""The audiovisual domain: videos with their soundtracks; each sample holds two inputs of the same
time span, ``video`` (a clip, kind ``clip``) and ``audio`` (its log-mel, kind ``spectrogram``).

Videos are found and cut into segments as the video domain does; a video without an audio stream is
a bad item here (and only here), reported with that reason. Loading decodes a segment's frames every
``clip_s / frames`` seconds (``domains.video.reading``) and its soundtrack (``soundtrack``) into the
audio domain's normalised log-mel (the same front end, settings and per-run statistics). A view is
one window of ``clip_s`` seconds at a random start: the clip of ``frames`` frames with the video
domain's spatial augmentations, and the log-mel of the same seconds with the audio domain's (without
their own time shifts, which would break the sync). Embed and eval take the middle window.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Annotated, Any

import torch
from pydantic import Field
from sslcli.domains.audio.domain import (
    FrontEndSettings,
    front_end,
    log_mel_record,
    measure_items,
    read_normalisation,
    save_normalisation,
)
from sslcli.domains.audio.frontend import Normalisation, fit_frames
from sslcli.domains.audio.reading import refuse_silence
from sslcli.domains.audio.views import AudioAugment, AudioViewOptions
from sslcli.domains.audiovisual.moving_shapes import materialise_moving_shapes
from sslcli.domains.audiovisual.soundtrack import read_soundtrack
from sslcli.domains.base import SAMPLE_CPU_BUDGET_S, Domain, InputSpec, Item, Sample, ViewFn
from sslcli.domains.discovery import discover_files
from sslcli.domains.natural import IMAGENET
from sslcli.domains.options import CropScale, MultiCropOptions, ViewOptions
from sslcli.domains.video.domain import VideoStretch, video_stretches
from sslcli.domains.video.reading import VIDEO_SUFFIXES, read_frames
from sslcli.domains.video.views import (
    ClipAugment,
    ClipViewOptions,
    MiddleClip,
    middle_clip_record,
    middle_start,
)

VIDEO, AUDIO = "video", "audio"


class AudioVisualSettings(ViewOptions):
    """How windows are cut from a video and its soundtrack, fixed for a run."""

    frames: Annotated[int, Field(ge=1, le=128)] = 8  # T: frames per clip, spread over the window
    clip_s: Annotated[float, Field(gt=0)] = 1.0  # the window a clip and its log-mel cover
    short_side: Annotated[int, Field(ge=8)] = 128  # decoded frames' short side, before the views
    segment_s: Annotated[float, Field(gt=0)] = 8.0  # videos of 2+ segments are cut into these


class SoundtrackViewOptions(AudioViewOptions):
    """The audio domain's augmentations of a log-mel, without those that move it in time against its
    clip (no circular shift; crops keep every frame) or in pitch: a crop of the mel bands stretches
    the spectrum, and a sound's pitch is what tells its source (on the built-in moving shapes, the
    default crop of 60-100% of the bands kept AVID's loss at chance: README). ``mixup_ratio`` does not
    apply here."""

    freq_scale: CropScale = (1.0, 1.0)
    time_scale: CropScale = (1.0, 1.0)
    shift_frames: Annotated[int, Field(ge=0)] = 0


class AudioVisualOptions(
    AudioVisualSettings, FrontEndSettings, ClipViewOptions, SoundtrackViewOptions, MultiCropOptions
):
    """Every ``views`` option of videos with sound."""


class AudioVisualDomain(Domain):
    Options = AudioVisualOptions
    name = "audiovisual"
    description = "videos with sound: a clip and the log-mel of the same seconds, one encoder each"
    default_input_size = 112
    input_size_unit = f" px, {AudioVisualSettings().frames} frames + log-mel"
    default_backbone = f"{VIDEO}=resnet18,{AUDIO}=spec_cnn"

    def __init__(self) -> None:
        super().__init__()
        self.normalisation: Normalisation | None = None  # measured on discovery, or the run's

    def bind_run(self, run_dir: Path, create: bool) -> None:
        self.normalisation = read_normalisation(run_dir, create) or self.normalisation

    def save_run_state(self, run_dir: Path) -> None:
        save_normalisation(run_dir, self.normalisation)

    def discovery_options(self) -> float:
        return self.options.segment_s

    @property
    def step_s(self) -> float:
        """Seconds between a clip's frames."""
        return self.options.clip_s / self.options.frames

    @property
    def audio_frames(self) -> int:
        """Log-mel frames of one window."""
        return round(self.options.clip_s * 1000 / self.options.hop_ms)

    def inputs(self, input_size: int) -> dict[str, InputSpec]:
        return {
            VIDEO: InputSpec(
                "clip", 3, (self.options.frames, input_size, input_size), colour=True, normalisation=IMAGENET
            ),
            AUDIO: InputSpec("spectrogram", 1, (self.options.n_mels, self.audio_frames)),
        }

    def discover(self, root: Path) -> list[Item]:
        entries, segment_s = discover_files(root, VIDEO_SUFFIXES), self.options.segment_s
        items = [item for entry in entries for item in video_stretches(entry, segment_s)]
        if self.normalisation is None and items:
            self.normalisation = measure_items(items, self.log_mel)
        return items

    def span(self, item: Item) -> tuple[float, float | None]:
        return (item.start_s, item.end_s) if isinstance(item, VideoStretch) else (0.0, None)

    def log_mel(self, item: Item) -> torch.Tensor:
        """The item's soundtrack as log-mel power in dB (1, n_mels, F), not normalised; a silent stretch
        is a bad item, as in the audio domain."""
        start, end = self.span(item)
        waveform = read_soundtrack(item.path, start, end, self.options.sample_rate)  # (S,)
        return front_end(self.options)(refuse_silence(waveform, whole=end is None))

    def load(self, item: Item, inputs: Collection[str] | None = None) -> Sample:
        """{"video": uint8 (N, 3, H, W) every ``step_s``, "audio": normalised log-mel (1, M, F)}, or the
        ``inputs`` asked for only; a stretch holding fewer than ``frames`` frames is a bad item, as in
        the video domain."""
        wanted, sample = (VIDEO, AUDIO) if inputs is None else inputs, {}
        if AUDIO in wanted:
            sample[AUDIO] = (self.normalisation or Normalisation()).apply(self.log_mel(item))
        if VIDEO in wanted:
            start, end, short_side = *self.span(item), self.options.short_side
            frames = self.options.frames
            sample[VIDEO] = read_frames(item.path, start, end, self.step_s, short_side, min_frames=frames)
        return sample

    def window(self, sample: Sample, start: int, clip_view, audio_view) -> Sample:
        """The clip of ``sample`` starting at frame ``start`` and the log-mel of the same seconds (of
        the two, those the sample holds)."""
        window = {}
        if VIDEO in sample:
            window[VIDEO] = clip_view(sample[VIDEO], start)
        if AUDIO in sample:
            first = round(start * self.step_s * 1000 / self.options.hop_ms)  # its first log-mel frame
            log_mel = fit_frames(sample[AUDIO], first + self.audio_frames, 0)[..., first:]  # (1, M, frames)
            window[AUDIO] = audio_view(log_mel)
        return window

    def views(self, family: str, input_size: int) -> ViewFn:
        """``one_view``: one window at a random start, each input augmented by its domain's views."""
        if family == "plain":
            plain = self.eval_views(input_size)
            return lambda sample: [plain(sample)]
        if family != "one_view":
            raise ValueError(
                f"domain {self.name!r} makes one window of both inputs (one_view), not {family!r}"
            )
        frames, norm = self.options.frames, self.normalisation or Normalisation()
        clip = ClipAugment(frames, input_size, self.options)
        audio = AudioAugment(self.audio_frames, self.options, norm)

        def random_window(sample: Sample) -> list[Sample]:
            start = int(torch.randint(0, max(sample[VIDEO].shape[0] - frames, 0) + 1, ()))
            return [self.window(sample, start, clip.at, audio)]

        return random_window

    def eval_views(self, input_size: int):
        clip = MiddleClip(self.options.frames, input_size)

        def middle_window(sample: Sample) -> Sample:
            if VIDEO in sample:
                start = middle_start(sample[VIDEO].shape[0], self.options.frames)
            else:  # the sound alone (loaded without its frames): the middle of its log-mel
                log_mel_frames = sample[AUDIO].shape[-1]
                start = int(
                    middle_start(log_mel_frames, self.audio_frames) * self.options.hop_ms / 1000 / self.step_s
                )
            return self.window(sample, start, clip.at, lambda log_mel: log_mel)

        return middle_window

    def preprocessing(self, input_size: int) -> dict[str, dict[str, Any]]:
        s = self.options
        decode = f"a frame every {self.step_s:g} s, short side {s.short_side} px"
        audio = log_mel_record(self.options, self.normalisation or Normalisation(), self.audio_frames)
        audio["frames"] = f"{self.audio_frames} frames from the clip's first frame (the same {s.clip_s} s)"
        return {VIDEO: middle_clip_record(s.frames, input_size, decode), AUDIO: audio}

    def builtin_sample(self) -> tuple[Path, Path]:
        return materialise_moving_shapes()

    def recipe(
        self, data_is_builtin: bool, items: Sequence[Item] = (), device_type: str = "cpu"
    ) -> dict[str, Any]:
        settings = {**FrontEndSettings().model_dump(), **AudioVisualSettings().model_dump()}
        augment = {**ClipViewOptions().model_dump(), **SoundtrackViewOptions().model_dump()}
        recipe = {"input_size": self.default_input_size, "backbone": self.default_backbone}
        if not data_is_builtin:
            return {**recipe, "views": {**settings, **augment}}
        # 180 clips of 2 s at 64 px: 4 frames of 16 px per clip and resnet10 on every frame make a step of
        # 30 clips about 0.7 s on 2 CPU cores; 50 epochs of 6 steps take about 4 minutes
        views = {**settings, **augment, "frames": 4, "short_side": 64}
        backbone = f"{VIDEO}=resnet10,{AUDIO}=spec_cnn"
        recipe = {"input_size": 16, "backbone": backbone, "views": views, "lr": 1e-3}
        return recipe | {"epochs": 50, "batch_size": 30, "cpu_budget_s": SAMPLE_CPU_BUDGET_S}
