"""Writing MP4 files with PyAV: H.264 video and, optionally, an AAC soundtrack (the built-in samples)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AAC_FRAME = 1024  # samples per AAC frame


def write_mp4(
    path: Path, frames: np.ndarray, fps: float, sound: np.ndarray | None = None, sample_rate: int = 16_000
) -> None:
    """uint8 (N, H, W, 3) frames at ``fps`` -> H.264 (yuv420p, so the sides are cut to even), with a
    mono float32 soundtrack ``sound`` (S,) at ``sample_rate`` as AAC when given."""
    frames = frames[:, : frames.shape[1] // 2 * 2, : frames.shape[2] // 2 * 2]
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        video.height, video.width = frames.shape[1:3]
        video.pix_fmt, video.options = "yuv420p", {"crf": "20"}
        audio = None if sound is None else container.add_stream("aac", rate=sample_rate, layout="mono")
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(video.encode())
        if audio is None:
            return
        for start in range(0, len(sound), AAC_FRAME):
            chunk = sound[None, start : start + AAC_FRAME].astype(np.float32)  # (1, n) planar mono
            audio_frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            audio_frame.sample_rate, audio_frame.pts = sample_rate, start
            container.mux(audio.encode(audio_frame))
        container.mux(audio.encode())
