"""The audiovisual domain's built-in sample: generated clips of a moving shape whose sound follows it.

Each clip is 2 s of 64 x 64 H.264 video at 25 fps with an AAC soundtrack at 16 kHz, written with PyAV.
A circle, a square or a triangle (the label) of a random colour and size drifts over a textured
background along a smooth random path; its tone's pitch follows its height (220 Hz at the bottom to
1760 Hz at the top), its loudness its horizontal place, and its timbre its shape (a sine, odd
harmonics, or every harmonic), over quiet noise. A clip's soundtrack therefore tells its motion, and
only its own soundtrack does: cross-modal retrieval among held-out clips has something to find, and
random encoders find it at chance. Every draw is seeded by the clip's name, so the sample is the same
on every machine.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from sslcli.domains.sample_cache import materialise
from sslcli.domains.video.writing import write_mp4

SAMPLE_VERSION = "moving-shapes-v1"
SHAPES = ("circle", "square", "triangle")
CLIPS = {"train": 60, "test": 20}  # per shape
SIDE, FPS, SECONDS, SAMPLE_RATE = 64, 25, 2.0, 16_000
LOW_HZ, OCTAVES = 220.0, 3.0
HARMONICS = {"circle": [1.0], "square": [1.0, 0.0, 1 / 3, 0.0, 1 / 5], "triangle": [1.0, 1 / 2, 1 / 3, 1 / 4]}


def materialise_moving_shapes() -> tuple[Path, Path]:
    """(train, test) folders of the sample, written on first use (seconds)."""
    return materialise(SAMPLE_VERSION, write_moving_shapes)


def write_moving_shapes(staging: Path) -> None:
    for split, count in CLIPS.items():
        for shape in SHAPES:
            (staging / split / shape).mkdir(parents=True)
            for i in range(count):
                name = f"{split}/{shape}/{shape}_{i:02d}.mp4"
                frames, sound = moving_shape_clip(shape, np.random.default_rng(name_seed(name)))
                write_mp4(staging / name, frames, FPS, sound, SAMPLE_RATE)


def name_seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def moving_shape_clip(shape: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(frames uint8 (N, SIDE, SIDE, 3), soundtrack float32 (S,)) of one clip."""
    n_frames, n_samples = round(SECONDS * FPS), round(SECONDS * SAMPLE_RATE)
    radius = rng.uniform(6, 11)
    path = smooth_path(rng, n_samples, margin=radius / SIDE)  # (S, 2) x, y in [0, 1], y down
    colour = tuple(int(c) for c in rng.integers(60, 256, 3))
    background = rng.integers(0, 90, 3) + rng.integers(0, 30, (SIDE, SIDE, 1))  # (SIDE, SIDE, 3) texture
    frame_at = (np.arange(n_frames) * SAMPLE_RATE / FPS).astype(int)  # each frame's sample index
    frames = np.stack([draw(shape, path[k] * SIDE, radius, colour, background) for k in frame_at])
    pitch = LOW_HZ * 2 ** (OCTAVES * (1 - path[:, 1]))  # (S,) high on screen, high in pitch
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    tone = sum(a * np.sin((h + 1) * phase) for h, a in enumerate(HARMONICS[shape]))
    tone = tone / np.abs(tone).max() * (0.1 + 0.4 * path[:, 0])  # louder to the right
    sound = tone + 0.01 * rng.standard_normal(n_samples)
    return frames, sound.astype(np.float32)


def smooth_path(rng: np.random.Generator, n: int, margin: float) -> np.ndarray:
    """(n, 2) positions in [margin, 1 - margin]: two slow sinusoids per axis (0.15 to 0.8 Hz)."""
    t = np.arange(n)[:, None] / SAMPLE_RATE  # (n, 1) seconds
    freq, phase = rng.uniform(0.15, 0.8, (2, 2)), rng.uniform(0, 2 * np.pi, (2, 2))  # (wave, axis)
    wave = sum(np.sin(2 * np.pi * freq[w] * t + phase[w]) for w in range(2)) / 2  # (n, 2) in [-1, 1]
    return 0.5 + (0.5 - margin) * wave


def draw(shape: str, centre: np.ndarray, radius: float, colour, background: np.ndarray) -> np.ndarray:
    image = Image.fromarray(background.astype(np.uint8))
    (x, y), r, pen = centre, radius, ImageDraw.Draw(image)
    if shape == "circle":
        pen.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    elif shape == "square":
        pen.rectangle((x - r, y - r, x + r, y + r), fill=colour)
    else:
        pen.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=colour)
    return np.asarray(image)
