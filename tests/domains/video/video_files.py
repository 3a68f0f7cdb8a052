"""Small videos written with PyAV whose frames say their own index (frame k is filled with grey
level k * LEVEL_STEP), so a test can tell exactly which frames a read returned."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

LEVEL_STEP = 6


def write_counting_video(
    path: Path,
    frames: int = 40,
    fps: int = 25,
    size: tuple[int, int] = (64, 48),
    gop: int = 10,
    claimed_s: float | None = None,
) -> Path:
    """H.264 (lossless, a keyframe every ``gop`` frames) at ``fps``, ``size`` = (width, height).

    ``claimed_s``: the duration its header states instead, by stretching the last frame's duration (the
    last entry of the MP4 time-to-sample table), as the header of a recording cut short may claim."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
        stream.options = {"crf": "0", "g": str(gop), "bf": "0"}
        packets = []  # in decode order = frame order (no B-frames); time base 1 / fps
        for k in range(frames):
            picture = np.full((height, width, 3), k * LEVEL_STEP % 256, dtype=np.uint8)
            packets += stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24"))
        packets += stream.encode()
        if claimed_s is not None:
            packets[-1].duration = round(claimed_s * fps) - (frames - 1)
        container.mux(packets)
    return path


def frame_indices(frames) -> list[int]:
    """(N, 3, H, W) uint8 frames of a counting video -> the index each one shows."""
    return [round(float(frame.float().mean()) / LEVEL_STEP) for frame in frames]


def write_counting_frames(folder: Path, frames: int = 30, size: tuple[int, int] = (48, 32)) -> Path:
    """PNG frames ``frame_000.png``, ... whose frame k is filled with grey level k * LEVEL_STEP."""
    folder.mkdir(parents=True)
    width, height = size
    for k in range(frames):
        picture = np.full((height, width, 3), k * LEVEL_STEP % 256, dtype=np.uint8)
        Image.fromarray(picture).save(folder / f"frame_{k:03d}.png")
    return folder
