"""Video throughput: decode + clip views (clips/s) per container and codec, with a soundtrack for the
audiovisual domain, and SimCLR and AVID training (clips/s).

Writes synthetic videos (a bright square moving over a noisy background, 320 x 240 at 25 fps,
``--seconds`` long, cut into 2 s segments) with PyAV in H.264/MP4, VP9/WebM and MPEG-4/AVI to a
temporary folder, then times ``VideoDomain.load`` (seek, decode the segment every 4th frame, scale to
a short side of 128) plus one clip view (8 frames, crop, flip, jitter, blur at 112 px) per segment on
one process; then a short SimCLR run (resnet10 on every frame, 8 x 64 px clips, batch ``--batch``,
no loader workers) through the engine. The audiovisual rows write the same videos with an AAC
soundtrack (a tone following the square) and time ``AudioVisualDomain.load`` (frames every 1/8 s and
the soundtrack's log-mel) plus one window view (8 frames at 112 px and 1 s of log-mel), then AVID
training (resnet10 on every frame at 64 px, spec_cnn on the log-mel). Prints tables; asserts nothing
about speed.

    python benchmarks/bench_video.py [--videos 4] [--seconds 8] [--batch 8] [--steps 4]
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from sslcli.domains.video.writing import write_mp4

from sslcli.config import PretrainConfig
from sslcli.engine.launch import pretrain
from sslcli.registry import DOMAINS

CODECS = {
    "H.264 / mp4": ("mp4", "libx264"),
    "VP9 / webm": ("webm", "libvpx-vp9"),
    "MPEG-4 / avi": ("avi", "mpeg4"),
}
FPS, WIDTH, HEIGHT, SEGMENT_S, SAMPLE_RATE = 25, 320, 240, 2.0, 16_000


def write_videos(folder: Path, suffix: str, codec: str, videos: int, seconds: float) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    background = rng.integers(0, 80, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    for i in range(videos):
        with av.open(str(folder / f"{i}.{suffix}"), "w") as container:
            stream = container.add_stream(codec, rate=Fraction(FPS))
            stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            for k in range(round(seconds * FPS)):
                frame = background.copy()
                x = (8 * k + 40 * i) % (WIDTH - 48)
                frame[96:144, x : x + 48] = 255  # (H, W, 3): the moving square
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
    return folder


def write_sounding_videos(folder: Path, videos: int, seconds: float) -> Path:
    """The moving square as H.264 with an AAC soundtrack: a tone rising with the square's place."""
    folder.mkdir(parents=True)
    background = np.random.default_rng(0).integers(0, 80, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    for i in range(videos):
        frames = np.repeat(background[None], round(seconds * FPS), axis=0)  # (N, H, W, 3)
        places = [(8 * k + 40 * i) % (WIDTH - 48) for k in range(len(frames))]
        for frame, x in zip(frames, places, strict=True):
            frame[96:144, x : x + 48] = 255
        pitch = 200 + 4 * np.interp(t * FPS, np.arange(len(places)), places)  # (S,) Hz
        tone = 0.3 * np.sin(2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE)
        write_mp4(folder / f"{i}.mp4", frames, FPS, tone.astype(np.float32), SAMPLE_RATE)
    return folder


def clip_rate(folder: Path, domain_name: str = "video") -> tuple[float, int]:
    """(segments per second through load + one view, segments), after one warm-up pass."""
    domain = DOMAINS[domain_name].configured({"segment_s": SEGMENT_S})
    items = domain.discover(folder)
    view = domain.views("one_view", 112)
    view(domain.load(items[0]))
    start = time.perf_counter()
    for item in items:
        view(domain.load(item))
    return len(items) / (time.perf_counter() - start), len(items)


def training_rate(folder: Path, out: Path, batch: int, steps: int, domain: str = "video") -> float:
    method, backbone = (
        ("avid", "video=resnet10,audio=spec_cnn") if domain == "audiovisual" else ("simclr", "resnet10")
    )
    config = PretrainConfig(
        domain=domain, method=method, data=str(folder), out=str(out), epochs=1, backbone=backbone,
        input_size=64, batch_size=batch, num_workers=0, device="cpu", log_every=1,
        views={"segment_s": SEGMENT_S},
    )  # fmt: skip
    result = pretrain(config, None, Console(quiet=True))
    assert result.state.step >= steps, "not enough segments for the steps asked for"
    return result.state.items_seen / result.state.elapsed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    console = Console()
    console.print(
        f"{datetime.date.today()} | torch {torch.__version__} | PyAV {av.__version__} | "
        f"{torch.get_num_threads()} threads | {args.videos} videos of {args.seconds:g} s, {WIDTH}x{HEIGHT}"
    )
    table = Table(title=f"load a {SEGMENT_S:g} s segment + one 8-frame clip view at 112 px, one process")
    for column in ("codec / container", "segments", "clips/s"):
        table.add_column(column, justify="left" if column.startswith("codec") else "right")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (suffix, codec) in CODECS.items():
            rate, count = clip_rate(write_videos(Path(tmp, suffix), suffix, codec, args.videos, args.seconds))
            table.add_row(name, str(count), f"{rate:.1f}")
        sounding = write_sounding_videos(Path(tmp, "sounding"), args.videos, args.seconds)
        rate, count = clip_rate(sounding, "audiovisual")
        table.add_row("H.264 + AAC / mp4, audiovisual", str(count), f"{rate:.1f}")
        console.print(table)
        segments = args.batch * args.steps
        train = write_videos(Path(tmp, "train"), "mp4", "libx264", segments // 2, 2 * SEGMENT_S)
        rate = training_rate(train, Path(tmp, "run"), args.batch, args.steps)
        console.print(
            f"SimCLR training, resnet10 on every frame, clips 8 x 3 x 64 x 64, batch {args.batch}, "
            f"{args.steps} steps, CPU: {rate:.1f} clips/s (views made in the main process, decode included)"
        )
        train = write_sounding_videos(Path(tmp, "train_av"), segments // 2, 2 * SEGMENT_S)
        rate = training_rate(train, Path(tmp, "run_av"), args.batch, args.steps, "audiovisual")
        console.print(
            f"AVID training, resnet10 on every frame (8 x 3 x 64 x 64) + spec_cnn (64 x 100 log-mel), "
            f"batch {args.batch}, {args.steps} steps, CPU: {rate:.1f} clips/s (decode included)"
        )


if __name__ == "__main__":
    main()
