"""Audio throughput: decode + log-mel front end (items/s) per format, and SimCLR training (clips/s).

Writes synthetic recordings (tones with noise, 44.1 kHz stereo, ``--seconds`` long, so cut into
1 s segments) in WAV, FLAC, OGG and MP3 to a temporary folder, then times ``AudioDomain.load`` of
every segment (seek, decode, down-mix, resample to 16 kHz, log-mel, normalise) on one process, and
a short SimCLR run on 1.5 s WAV clips (one item each; the default spectrogram CNN, 96-frame views,
batch ``--batch``, no loader workers) through the engine. Prints a table; asserts nothing about
speed.

    python benchmarks/bench_audio.py [--clips 32] [--seconds 4] [--batch 32] [--steps 4]
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch
from rich.console import Console
from rich.table import Table

from sslcli.config import PretrainConfig
from sslcli.engine.launch import pretrain
from sslcli.registry import DOMAINS

FORMATS = {"WAV 16-bit": ("wav", "PCM_16"), "FLAC": ("flac", "PCM_16"), "OGG Vorbis": ("ogg", "VORBIS")}
FORMATS["MP3"] = ("mp3", "MPEG_LAYER_III")
RATE = 44100
TRAIN_CLIP_S = 1.5  # under two segments: one item per clip


def write_clips(folder: Path, suffix: str, subtype: str, clips: int, seconds: float) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    t = np.arange(round(seconds * RATE)) / RATE
    for i in range(clips):
        wave = 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) + 0.02 * rng.standard_normal(len(t))
        soundfile.write(
            folder / f"{i}.{suffix}", np.stack([wave, wave], axis=1).astype(np.float32), RATE, subtype=subtype
        )
    return folder


def decode_rate(folder: Path, repeats: int) -> float:
    """Items (segments) per second through ``AudioDomain.load`` (after one warm-up pass)."""
    audio = DOMAINS["audio"]()
    items = audio.discover(folder)  # also measures the normalisation statistics
    for item in items:
        audio.load(item)
    start = time.perf_counter()
    for _ in range(repeats):
        for item in items:
            audio.load(item)
    return repeats * len(items) / (time.perf_counter() - start)


def training_rate(folder: Path, out: Path, batch: int, steps: int) -> float:
    """Clips per second of SimCLR on ``folder`` (the domain's default encoder, 96-frame views)."""
    config = PretrainConfig(
        domain="audio", method="simclr", data=str(folder), out=str(out), epochs=1,
        batch_size=batch, num_workers=0, device="cpu", log_every=1,
    )  # fmt: skip
    result = pretrain(config, None, Console(quiet=True))
    assert result.state.step >= steps, "not enough clips for the steps asked for"
    return result.state.items_seen / result.state.elapsed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    console = Console()
    console.print(
        f"{datetime.date.today()} | torch {torch.__version__} | {torch.get_num_threads()} threads | "
        f"{args.clips} clips of {args.seconds:g} s, 44.1 kHz stereo"
    )
    table = Table(title="audio decode + log-mel of 1 s segments (AudioDomain.load), one process")
    for column in ("format", "segments/s", "audio seconds/s"):
        table.add_column(column, justify="left" if column == "format" else "right")
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for name, (suffix, subtype) in FORMATS.items():
            folders[name] = write_clips(Path(tmp, suffix), suffix, subtype, args.clips, args.seconds)
            rate = decode_rate(folders[name], args.repeats)
            table.add_row(name, f"{rate:.1f}", f"{rate:.0f}")
        console.print(table)
        clips = args.batch * args.steps
        train = write_clips(Path(tmp, "train"), "wav", "PCM_16", clips, TRAIN_CLIP_S)
        rate = training_rate(train, Path(tmp, "run"), args.batch, args.steps)
        console.print(
            f"SimCLR training, spec_cnn, {TRAIN_CLIP_S:g} s clips, views 1 x 64 x 96, batch {args.batch}, "
            f"{args.steps} steps, CPU: {rate:.1f} clips/s (views made in the main process, decode included)"
        )


if __name__ == "__main__":
    main()
