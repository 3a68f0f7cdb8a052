"""The video domain: files found by extension, read by time with PyAV, and folders of frame images
(one video each, at ``frame_rate``); one input of kind ``clip``, (T, 3, H, W) frames.

Videos of at least two ``segment_s`` are cut into consecutive segments (the last one runs to the end),
one item each, as the audio domain cuts recordings: an epoch draws clips from every stretch of a long
video, and embed writes a row per segment with its start and end seconds and a pooled row per video.
Loading an item decodes its stretch once, a sample every ``stride`` frames of ``STRIDE_FPS`` (so a
clip spans the same time at any frame rate, as PySlowFast resamples every video to one target rate;
never finer than the video's own frames), scaled to a short side of ``short_side`` (``reading``);
each view is then a clip of ``frames`` consecutive samples of it. A
stretch holding fewer than ``frames`` source frames (a still picture, a one-frame file) is a bad item.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field
from sslcli.domains.base import SAMPLE_CPU_BUDGET_S, Domain, InputSpec, Item, Sample, segment_bounds
from sslcli.domains.discovery import Entry, discover_files
from sslcli.domains.natural import IMAGENET
from sslcli.domains.options import MultiCropOptions, ViewOptions
from sslcli.domains.video.clips_sample import materialise_video_clips
from sslcli.domains.video.reading import (
    FALLBACK_FPS,
    VIDEO_SUFFIXES,
    frame_files,
    probe,
    read_frame_folder,
    read_frames,
)
from sslcli.domains.video.views import ClipAugment, ClipViewOptions, MiddleClip, middle_clip_record


class VideoSettings(ViewOptions):
    """How clips are sampled from a video, fixed for a run."""

    frames: Annotated[int, Field(ge=1, le=128)] = 8  # T: frames per clip (rho-BYOL: 8)
    stride: Annotated[int, Field(ge=1)] = 4  # frames at STRIDE_FPS between a clip's (rho-BYOL: 8 at 30)
    short_side: Annotated[int, Field(ge=8)] = 128  # decoded frames' short side, before the views
    segment_s: Annotated[float, Field(gt=0)] = 8.0  # videos of 2+ segments are cut into these
    frame_rate: Annotated[float, Field(gt=0)] = 25.0  # of folders of frame images (one video each)


FOLDER_REASON = "a directory, not a video file"
STRIDE_FPS = 25.0  # the rate ``stride`` counts frames at, whatever the video's own
# a CPU trains for minutes: smaller frames, a shallower per-frame encoder and half the frames a clip buy
# more steps there (the natural domain's CPU recipe, for the same reason); a GPU keeps 8 frames of 112 px
# and resnet18. Above 64 px the ResNets keep ImageNet's strided stem: at 64 px their small-image stem
# costs twice 112 px's FLOPs. The clip encoder averages its frames, so its cost is linear in them
CPU_INPUT, CPU_BACKBONE, CPU_FRAMES = 80, "resnet10", 4


@dataclass(frozen=True)
class VideoStretch(Item):
    """``[start_s, end_s)`` of a video at ``fps``; ``end_s`` None: a whole (short) video."""

    start_s: float = 0.0
    end_s: float | None = None
    fps: float = FALLBACK_FPS

    def span(self) -> tuple[float, float] | None:
        return None if self.end_s is None else (self.start_s, self.end_s)


def stretches(path: Path, rel: str, duration_s: float | None, fps: float, segment_s: float) -> list[Item]:
    """The items of one video: whole if shorter than two segments (or its length is unknown; loading
    it says why it is bad, if it is), else consecutive ``segment_s`` stretches."""
    if duration_s is None or duration_s < 2 * segment_s:
        return [VideoStretch(rel, path, rel, None, 0.0, None, fps)]
    bounds = segment_bounds(duration_s, segment_s)
    return [VideoStretch(f"{rel}@{start:.3f}s", path, rel, None, start, end, fps) for start, end in bounds]


def video_stretches(entry: Entry, segment_s: float) -> list[Item]:
    """The items of one entry named like a video: one saying why for anything but a regular file (whose
    header alone is read, ``probe``), else its stretches by the duration its frames confirm."""
    if entry.problem or entry.folder:
        return [entry.item(FOLDER_REASON)]
    info = probe(entry.path)
    duration, fps = (info.duration_s, info.fps) if info else (None, FALLBACK_FPS)
    return stretches(entry.path, entry.rel, duration, fps, segment_s)


def sample_step_s(stride: int, fps: float) -> float:
    """Seconds between the samples of a video at ``fps``: ``stride`` frames at ``STRIDE_FPS``, or one
    frame of the video where its frames are further apart (a slow video is not sampled twice a frame).
    A 12 fps cartoon at stride 4 gives every other frame, as a 25 fps film gives every fourth."""
    return max(stride / STRIDE_FPS, 1 / fps)


class VideoOptions(VideoSettings, ClipViewOptions, MultiCropOptions):
    """Every ``views`` option of videos."""


class VideoDomain(Domain):
    Options = VideoOptions
    name = "video"
    description = "videos (mp4, webm, mkv, avi, mov; folders of frame images) as clips, read by time"
    default_input_size = 112
    input_size_unit = f" px, {VideoSettings().frames} frames"  # the default clip
    default_backbone = "resnet18"  # on every frame, averaged: the cheap clip encoder

    def discovery_options(self) -> tuple[float, float]:
        return self.options.segment_s, self.options.frame_rate

    def inputs(self, input_size: int) -> dict[str, InputSpec]:
        size = (self.options.frames, input_size, input_size)
        return {"video": InputSpec("clip", 3, size, colour=True, normalisation=IMAGENET)}

    def discover(self, root: Path) -> list[Item]:
        """Video files by extension, and folders holding frame images (one video per folder)."""
        settings, items = self.options, []
        for entry in discover_files(root):
            path, rel = entry.path, entry.rel
            if entry.folder and not path.is_symlink() and (frames := len(frame_files(path))):
                items += stretches(
                    path, rel, frames / settings.frame_rate, settings.frame_rate, settings.segment_s
                )
            elif path.suffix.lower() in VIDEO_SUFFIXES:
                items += video_stretches(entry, settings.segment_s)
        return items

    def load(self, item: Item, inputs: Collection[str] | None = None) -> Sample:
        whole = (0.0, None, FALLBACK_FPS)
        start, end, fps = (item.start_s, item.end_s, item.fps) if isinstance(item, VideoStretch) else whole
        step_s, short_side = sample_step_s(self.options.stride, fps), self.options.short_side
        clip = self.options.frames
        if item.path.is_dir():
            frames = read_frame_folder(item.path, fps, start, end, step_s, short_side, min_frames=clip)
        else:
            frames = read_frames(item.path, start, end, step_s, short_side, min_frames=clip)
        return {"video": frames}  # (N, 3, H, W)

    def augment(self, input_size: int, options: VideoOptions) -> ClipAugment:
        return ClipAugment(options.frames, input_size, options)

    def eval_transform(self, input_size: int) -> MiddleClip:
        return MiddleClip(self.options.frames, input_size)  # (N, 3, H, W) -> (T, 3, S, S)

    def preprocessing(self, input_size: int) -> dict[str, dict[str, Any]]:
        s = self.options
        decode = (
            f"a frame every {s.stride / STRIDE_FPS:g} s ({s.stride} frames at {STRIDE_FPS:g} fps; a slower "
            f"video: each frame; folders of frames: {s.frame_rate:g} fps), short side {s.short_side}"
        )
        return {"video": middle_clip_record(s.frames, input_size, decode)}

    def builtin_sample(self) -> tuple[Path, Path]:
        return materialise_video_clips()

    def recipe(
        self, data_is_builtin: bool, items: Sequence[Item] = (), device_type: str = "cpu"
    ) -> dict[str, Any]:
        if not data_is_builtin:
            settings, size, backbone = VideoSettings(), self.default_input_size, self.default_backbone
            if device_type == "cpu":  # 8 frames x 2 views an item: 112 px and resnet18 took 12 s a step
                settings, size, backbone = VideoSettings(frames=CPU_FRAMES), CPU_INPUT, CPU_BACKBONE
            views = {**settings.model_dump(), **ClipViewOptions().model_dump()}
            return {"input_size": size, "backbone": backbone, "views": views}
        # 1 s pieces: 8 frames 0.12 s apart (every 3rd at 25 fps) cover 0.96 s; 64 px and resnet10 on
        # every frame keep a CPU epoch of the ~20 pieces short
        views = {**VideoSettings(stride=3).model_dump(), **ClipViewOptions().model_dump()}
        recipe = {"input_size": 64, "backbone": "resnet10", "views": views, "epochs": 5, "batch_size": 8}
        return recipe | {"cpu_budget_s": SAMPLE_CPU_BUDGET_S}
