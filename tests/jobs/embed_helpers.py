"""Helpers of the shard and Parquet tests: run embed, read its output back with numpy, csv and pyarrow
only (independent of sslcli's own readers)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from sslcli.jobs.embed import embed_corpus

# 36 digit images; batches of 3 start at the same items whether the job runs whole or in 2, 3 or 4
# shards, so every vector comes from the same batch and equality is exact. (CPU kernels give a row
# results that depend on the size of its batch in the last float bits: where shard boundaries do not
# fall on batch boundaries the parts agree with the whole up to that rounding.)
BATCH = 3


def run_embed(run: Path, data: Path, out: Path, **kwargs):
    return embed_corpus(
        run,
        data,
        out,
        batch_size=BATCH,
        device_name="cpu",
        on_error="raise",
        num_workers=0,
        console=Console(quiet=True),
        **kwargs,
    )


def read_index(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@dataclass
class Embedded:
    vectors: np.ndarray  # (N, D) float32
    index: list[dict[str, str]]  # index.csv rows

    @property
    def ids(self) -> list[str]:
        return [row["item_id"] for row in self.index]


def read_flat(folder: Path) -> Embedded:
    return Embedded(np.load(folder / "embeddings.npy"), read_index(folder / "index.csv"))


def part_dirs(out: Path, count: int) -> list[Path]:
    return [out / "parts" / f"part-{i}-of-{count}" for i in range(count)]
