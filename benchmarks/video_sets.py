"""Real video for the benchmarks, cut the way the video domain's built-in sample is.

- ``opencv_clips``: the sample videos of OpenCV's documentation (Debian's ``opencv-doc``): a scene of
  the animated film Megamind (twice, the second copy with damaged frames, one label), the "tree" and
  pedestrian ("vtest") surveillance-style sequences, and the "box" and "cup" object-tracking clips:
  five sources, 150 one-second pieces. As in the built-in sample, each source is cut into one-second
  pieces at its own rate, scaled to a short side of 128 px, and the last third of every source is the
  test split, so eval asks which video a later second comes from. It cannot tell encoders apart
  (every linear probe scores 1.000). Needs ``sudo apt-get install opencv-doc``.
- ``blupi_clips``: the 14 cinematics of the game Planet Blupi (Debian's ``planetblupi-common``),
  5-17 s each at 12 frames a second, one drawing style and one cast for all: 123 one-second pieces
  (81 training, 42 test) cut as above, so eval asks which cinematic a later second comes from.
  Never used for tuning: the held-out video set. Needs ``sudo apt-get install planetblupi-common``.
- ``lebiniou_clips``: the 12 recordings of the music visualiser Le Biniou's output that ship with it
  (Debian's ``lebiniou-data``), 7-22 s each at 30 frames a second, 320x180: one program's abstract
  effects, each recording its own sequence of them, cut as above, so eval asks which recording a later
  second comes from. The video tuning set. Needs ``sudo apt-get install lebiniou-data``.
- ``scene_pans``: a camera panning over each of the ten scikit-image photographs of ``scene_crops``
  (``image_sets.py``), one 12-second source a photograph at 12 frames a second: a window of 40% of
  the short side drifts left to right with a vertical wobble and a slow zoom, so the test third of
  every source shows the part of the photograph its training pieces never did, as ``scene_crops``
  keeps its last quarter of columns for test. A video tuning set whose linear probe is not saturated
  by construction (real textures, real colour, camera motion); no package beyond scikit-image.

    python benchmarks/video_sets.py opencv_clips /tmp/sets/opencv_clips
    python benchmarks/video_sets.py blupi_clips /tmp/sets/blupi_clips
    python benchmarks/video_sets.py lebiniou_clips /tmp/sets/lebiniou_clips
    python benchmarks/video_sets.py scene_pans /tmp/sets/scene_pans
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from pathlib import Path

import numpy as np
from image_sets import SCENES, scene
from PIL import Image
from set_writer import write_named_set
from sslcli.domains.video.clips_sample import write_pieces
from sslcli.domains.video.writing import write_mp4

OPENCV_DOC = Path("/usr/share/doc/opencv-doc")
OPENCV_SOURCES = {
    "examples/data/Megamind.avi": "megamind",
    "examples/data/Megamind_bugy.avi": "megamind",
    "examples/data/tree.avi": "tree",
    "examples/data/vtest.avi": "pedestrians",
    "opencv4/html/box.mp4.gz": "box",
    "opencv4/html/cup.mp4.gz": "cup",
}


def opencv_clips(out: Path) -> None:
    missing = [name for name in OPENCV_SOURCES if not (OPENCV_DOC / name).is_file()]
    if missing:
        raise SystemExit(f"{OPENCV_DOC} lacks {', '.join(missing)}: sudo apt-get install opencv-doc")
    with tempfile.TemporaryDirectory() as scratch:
        sources = {}
        for name, label in OPENCV_SOURCES.items():
            path = OPENCV_DOC / name
            if path.suffix == ".gz":  # Debian compresses the documentation's videos
                unpacked = Path(scratch) / path.stem
                with gzip.open(path) as packed, unpacked.open("wb") as plain:
                    shutil.copyfileobj(packed, plain)
                path = unpacked
            sources[path] = label
        write_pieces(sources, out, "opencv-doc's")


def one_label_a_video(folder: Path, pattern: str, package: str, out: Path) -> None:
    """Every video under ``folder`` matching ``pattern``, labelled by its own name, cut into pieces."""
    videos = sorted(folder.glob(pattern))
    if not videos:
        raise SystemExit(f"no videos under {folder}: sudo apt-get install {package}")
    write_pieces({video: video.stem for video in videos}, out, f"{package}'s")


def blupi_clips(out: Path) -> None:
    one_label_a_video(Path("/usr/share/planetblupi/movie"), "*.mkv", "planetblupi-common", out)


def lebiniou_clips(out: Path) -> None:
    one_label_a_video(Path("/usr/share/lebiniou/vue/media"), "*.mp4", "lebiniou-data", out)


PAN_FPS, PAN_SECONDS, PAN_WINDOW, PAN_SIDE = 12, 12, 0.4, 128


def pan(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) photograph -> (PAN_FPS * PAN_SECONDS, PAN_SIDE, PAN_SIDE, 3) frames of a square
    window drifting left to right, wobbling up and down and zooming in and out, at random phases."""
    height, width = pixels.shape[:2]
    photo, frames = Image.fromarray(pixels), []
    times = np.linspace(0, 1, PAN_FPS * PAN_SECONDS)
    wobble, zoom = rng.uniform(0, 2 * np.pi, size=2)
    for t in times:
        side = PAN_WINDOW * min(height, width) * (1 + 0.15 * np.sin(2 * np.pi * 2 * t + zoom))
        left = t * (width - side)
        top = (height - side) * (0.5 + 0.4 * np.sin(2 * np.pi * 3 * t + wobble))
        box = (left, top, left + side, top + side)
        frames.append(np.asarray(photo.resize((PAN_SIDE, PAN_SIDE), Image.Resampling.BILINEAR, box=box)))
    return np.stack(frames)


def scene_pans(out: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as scratch:
        sources = {}
        for name in SCENES:
            path = Path(scratch) / f"{name}.mp4"
            write_mp4(path, pan(scene(name), rng), PAN_FPS)
            sources[path] = name
        write_pieces(sources, out, "scene_pans'")


SETS = {
    "opencv_clips": opencv_clips,
    "blupi_clips": blupi_clips,
    "lebiniou_clips": lebiniou_clips,
    "scene_pans": scene_pans,
}


if __name__ == "__main__":
    write_named_set(SETS, __doc__.splitlines()[0])
