"""Decoding video with PyAV (its wheels bundle FFmpeg: mp4, webm, mkv, avi, mov).

Frames are addressed by time, never by the container's frame count (often missing or wrong): a
stretch ``[start_s, end_s)`` is read by one seek to the keyframe before ``start_s`` and decoding
forward until every sampling time before ``end_s`` has its frame: the first at or after it. A stretch of a
two-hour file costs the decoding of that stretch (and at most one group of pictures before it).
Frames are scaled by FFmpeg (swscale) so their short side is ``short_side``, bounding memory.

A folder of frame images (one video per folder, frames in name order at a stated rate) is read the
same way by ``read_frame_folder``: the same sampling times, Pillow's decoder and box filter.

Sanity limits: a header's duration is checked against the timestamp of the file's last frame (one seek
near the stated end, then reading packets without decoding them), so a header that claims hours over
a few frames cannot cut them into hundreds of items; and a stretch holding fewer frames than a clip
(``min_frames``: a still picture, a one-frame file) is a bad item.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from av import VideoStream
from av.container import InputContainer
from PIL import Image
from sslcli.domains.discovery import BadItemError

VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".avi", ".mov")
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
FALLBACK_FPS = 25.0  # when a stream states no rate
HEADER_SLACK_S = 1.0  # a stated duration may pass the last frame by this much (edit lists, a long last frame)
EPSILON_S = 1e-6  # timestamps closer than this are equal


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float | None  # None: the container does not say
    fps: float
    has_audio: bool


def probe(path: Path) -> VideoInfo | None:
    """What the container's header says, its duration checked against the frames (``frames_end``: a
    header that states more than a second past the last frame lies, and the frames and their guessed
    rate are trusted instead), or None when it cannot be opened (loading says why)."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            duration = stated_duration(container, stream)
            fps = float(stream.average_rate) if stream.average_rate else FALLBACK_FPS
            end = None if duration is None else frames_end(container, stream, duration)
            if end is not None and end < duration - HEADER_SLACK_S:
                duration, fps = end, float(stream.guessed_rate or FALLBACK_FPS)
            return VideoInfo(duration, fps, bool(container.streams.audio))
    except Exception:  # corrupt or unsupported: load reports it with the reason
        return None


def stated_duration(container: InputContainer, stream: VideoStream) -> float | None:
    """Seconds the header states for the video stream (else the container), None if neither does."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def frames_end(container: InputContainer, stream: VideoStream, stated_s: float) -> float | None:
    """Seconds from the stream's start to the end of its last frame: one seek to the keyframe before
    ``stated_s``, then the packets from there are read (not decoded); None where that fails."""
    try:
        start = stream.start_time or 0
        container.seek(start + round(stated_s / stream.time_base), stream=stream, backward=True)
        last = max((packet.pts for packet in container.demux(stream) if packet.pts is not None), default=None)
    except Exception:  # a container that cannot seek keeps its header's word; loads report empty stretches
        return None
    if last is None:
        return None
    frame_s = 1 / Fraction(stream.guessed_rate or FALLBACK_FPS)
    return float((last - start) * stream.time_base + frame_s)


def read_frames(
    path: Path, start_s: float, end_s: float | None, step_s: float, short_side: int, min_frames: int = 1
) -> torch.Tensor:
    """Frames sampled every ``step_s`` seconds from ``start_s`` up to ``end_s`` (None: the end of the
    video) -> uint8 (N, 3, H, W) with min(H, W) = ``short_side``; a ``BadItemError`` says why not, also
    when the stretch holds fewer than ``min_frames`` frames."""
    try:
        frames, held = decode_stretch(path, start_s, end_s, step_s, short_side)
    except BadItemError:
        raise
    except Exception as err:  # FFmpeg rejects corrupt, truncated and unsupported files its own way
        lines = str(err).strip().splitlines()
        raise BadItemError(f"cannot decode video ({lines[-1] if lines else type(err).__name__})") from None
    if not frames:
        raise BadItemError("no decodable video frames" + (f" after {start_s:.2f} s" if start_s > 0 else ""))
    refuse_too_few(held, min_frames)
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)  # (N, 3, H, W)


def refuse_too_few(held: int, min_frames: int) -> None:
    """A stretch holding fewer frames than a clip is no video (a still picture, a one-frame file)."""
    if held < min_frames:
        raise BadItemError(f"too few frames for a clip (has {held}, a clip needs {min_frames})")


def decode_stretch(
    path: Path, start_s: float, end_s: float | None, step_s: float, short_side: int
) -> tuple[list[np.ndarray], int]:
    """(the (H, W, 3) pictures at the sampling times, how many frames the stretch holds)."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise BadItemError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if start_s > 0:
            container.seek(round(start_s / stream.time_base), stream=stream, backward=True)
        count = None if end_s is None else math.ceil((end_s - start_s) / step_s - 1e-9)  # sampling times
        frames: list[np.ndarray] = []
        held = 0

        def due(time: float) -> bool:  # the next sampling time has come
            return len(frames) != count and time + EPSILON_S >= start_s + len(frames) * step_s

        for frame in container.decode(stream):
            if frame.time is None or frame.time + EPSILON_S < start_s:
                continue
            inside = end_s is None or frame.time + EPSILON_S < end_s
            if not inside and len(frames) == count:
                break  # every sampling time has its frame, and the stretch is over
            held += inside
            picture = scaled(frame, short_side) if due(frame.time) else None
            while due(frame.time):
                frames.append(picture)  # a slow source repeats a frame for several sampling times
        return frames, held


def scaled(frame: av.VideoFrame, short_side: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB with the short side ``short_side`` (FFmpeg's swscale, area filter)."""
    scale = short_side / min(frame.width, frame.height)
    width, height = max(1, round(frame.width * scale)), max(1, round(frame.height * scale))
    return frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()


def frame_files(folder: Path) -> list[Path]:
    """The frame images directly inside ``folder``, in name order."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and p.is_file())


def read_frame_folder(
    folder: Path,
    fps: float,
    start_s: float,
    end_s: float | None,
    step_s: float,
    short_side: int,
    min_frames: int = 1,
) -> torch.Tensor:
    """``read_frames`` for a folder of frame images shown at ``fps``: frame k is on screen from k / fps.
    An unreadable frame makes the whole video a bad item naming that frame."""
    try:
        files = frame_files(folder)
    except OSError as err:
        raise BadItemError(f"cannot list the frame folder ({err.strerror})") from None
    stop_s = len(files) / fps if end_s is None else end_s
    first, stop = math.ceil(start_s * fps - 1e-6), min(math.ceil(stop_s * fps - 1e-6), len(files))
    held = max(stop - first, 0)  # frames k with start_s <= k / fps < stop_s
    times = []  # the sampling times inside the stretch that a frame covers
    while start_s + len(times) * step_s < stop_s:
        times.append(start_s + len(times) * step_s)
    indices = [math.ceil(t * fps - 1e-6) for t in times]
    frames = []
    for index in (i for i in indices if i < len(files)):
        try:
            with Image.open(files[index]) as image:
                frames.append(scaled_image(image.convert("RGB"), short_side))
        except Exception as err:  # Pillow raises several types on corrupt or truncated images
            raise BadItemError(f"cannot decode frame {files[index].name} ({type(err).__name__})") from None
    if not frames:
        raise BadItemError("no frame images" + (f" after {start_s:.2f} s" if start_s > 0 else ""))
    if len({frame.shape for frame in frames}) > 1:
        raise BadItemError("frame images of different sizes (or aspect ratios) in one video")
    refuse_too_few(held, min_frames)
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)  # (N, 3, H, W)


def scaled_image(image: Image.Image, short_side: int) -> np.ndarray:
    """(H, W, 3) uint8 with the short side ``short_side`` (Pillow's box filter, like swscale's area)."""
    scale = short_side / min(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return np.asarray(image.resize(size, Image.Resampling.BOX))
