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

    python benchmarks/video_sets.py opencv_clips /tmp/sets/opencv_clips
    python benchmarks/video_sets.py blupi_clips /tmp/sets/blupi_clips
    python benchmarks/video_sets.py lebiniou_clips /tmp/sets/lebiniou_clips
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from pathlib import Path

from set_writer import write_named_set
from sslcli.domains.video.clips_sample import write_pieces

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


SETS = {"opencv_clips": opencv_clips, "blupi_clips": blupi_clips, "lebiniou_clips": lebiniou_clips}


if __name__ == "__main__":
    write_named_set(SETS, __doc__.splitlines()[0])
