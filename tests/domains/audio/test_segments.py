"""Long recordings: cut into consecutive segments that are decoded on their own, embedded one row per
segment (with start and end seconds) plus one row per file, the mean of its segments."""

from __future__ import annotations

import csv

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile
import torch
from sslcli.domains.audio.domain import front_end
from sslcli.domains.audio.reading import read_waveform

from sslcli.registry import DOMAINS
from tests.conftest import invoke

RATE = 16_000
LENGTHS = {"a/long.wav": 3.5, "a/medium.flac": 2.25, "b/short.wav": 1.5}


def chirp(seconds: float) -> np.ndarray:
    """A rising tone plus a little noise: every stretch of it differs from every other."""
    t = np.arange(round(seconds * RATE)) / RATE
    noise = 0.01 * np.random.default_rng(0).standard_normal(len(t))
    return (0.4 * np.sin(2 * np.pi * (200 + 300 * t) * t) + noise).astype(np.float32)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    root = tmp_path_factory.mktemp("recordings")
    for name, seconds in LENGTHS.items():
        (root / name).parent.mkdir(exist_ok=True)
        soundfile.write(root / name, chirp(seconds), RATE, subtype="PCM_24")
    return root


def test_recordings_of_two_segments_or_more_are_cut_and_each_segment_decodes_alone(recordings):
    audio = DOMAINS["audio"]()
    items = audio.discover(recordings)
    spans = [(item.rel_path, item.span()) for item in items]
    assert spans == [
        ("a/long.wav", (0.0, 1.0)),
        ("a/long.wav", (1.0, 2.0)),
        ("a/long.wav", (2.0, 3.5)),  # the last segment runs to the end
        ("a/medium.flac", (0.0, 1.0)),
        ("a/medium.flac", (1.0, 2.25)),
        ("b/short.wav", None),  # under two segments: the whole recording
    ]
    assert len({item.item_id for item in items}) == len(items)
    for item in items[:5]:
        whole = read_waveform(item.path, RATE)
        start, end = (round(t * RATE) for t in item.span())
        torch.testing.assert_close(read_waveform(item.path, RATE, item.span()), whole[start:end])
        torch.testing.assert_close(audio.log_mel(item), front_end(audio.options)(whole[start:end]))


def read_index(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_embed_writes_a_row_per_segment_and_a_pooled_row_per_file(recordings, tmp_path):
    run = tmp_path / "run"
    fast = ("--epochs", "1", "--batch-size", "3", "--input-size", "48", "--backbone", "resnet10")
    result = invoke(
        "pretrain", "--domain", "audio", "--data", recordings, "--out", run, *fast, "--num-workers", "0"
    )
    assert result.exit_code == 0, result.output
    for fmt in ("npy", "parquet"):
        out = tmp_path / fmt
        result = invoke("embed", "--run", run, "--data", recordings, "--out", out, "--format", fmt)
        assert result.exit_code == 0, result.output
        index = read_index(out / "index.csv")
        assert [(row["path"], row["start_s"], row["end_s"]) for row in index][2:4] == [
            ("a/long.wav", "2.0", "3.5"),
            ("a/medium.flac", "0.0", "1.0"),
        ]
        assert index[-1]["start_s"] == "" and index[-1]["label"] == "b"
        if fmt == "npy":
            vectors = np.load(out / "embeddings.npy")
        else:
            table = pq.read_table(out / "embeddings.parquet")
            vectors = np.array(table.column("embedding").to_pylist(), dtype=np.float32)
            assert table.column("end_s").to_pylist()[:3] == [1.0, 2.0, 3.5]
        pooled, pooled_index = np.load(out / "pooled.npy"), read_index(out / "pooled_index.csv")
        assert [(r["path"], r["segments"], r["end_s"]) for r in pooled_index] == [
            ("a/long.wav", "3", "3.5"),
            ("a/medium.flac", "2", "2.25"),
            ("b/short.wav", "1", ""),
        ]
        paths = np.array([row["path"] for row in index])
        expected = np.stack([vectors[paths == row["path"]].mean(axis=0) for row in pooled_index])
        np.testing.assert_allclose(pooled, expected, rtol=1e-6, atol=1e-7)
        assert "pooled.npy (3 files" in result.output
