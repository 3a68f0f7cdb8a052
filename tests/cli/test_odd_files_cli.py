"""Odd entries in a data folder (a decompression bomb, a FIFO, broken links, a folder named like an image)
and domain or transform failures of any exception type: never a traceback, always counted."""

import csv
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from sslcli.domains.natural import NaturalDomain

from tests.conftest import FAST_PRETRAIN, invoke, one_error_line
from tests.odd_entries import FifoWatch, bomb_png

# entry (in the digit folder) -> a fragment of the reason it is skipped
ODD = {
    "0/bomb.png": "decompression bomb",
    "0/d.png": "a directory, not an image file",
    "1/pipe.png": "not a regular file (FIFO, socket or device)",
    "7/dangling.png": "dangling symbolic link",
    "7/loop.png": "symbolic link loop",
}
DIGITS = 36  # write_digit_folder: 3 classes x 12 images


@pytest.fixture
def odd_folder(digit_folder):
    (digit_folder / "0" / "bomb.png").write_bytes(bomb_png())
    (digit_folder / "0" / "d.png").mkdir()
    os.symlink("missing.png", digit_folder / "7" / "dangling.png")
    os.symlink("loop.png", digit_folder / "7" / "loop.png")
    watch = FifoWatch(digit_folder / "1" / "pipe.png")
    yield digit_folder
    assert not watch.close(), "the FIFO was opened"


def skipped_rows(path: Path) -> dict[str, str]:
    with path.open() as handle:
        return {row["item_id"]: row["reason"] for row in csv.DictReader(handle)}


def assert_odd_entries_listed(rows: dict[str, str], output: str) -> None:
    assert rows.keys() == ODD.keys()
    for entry, reason in ODD.items():
        assert reason in rows[entry], rows[entry]
        assert entry.split("/")[1] in output


def test_pretrain_skip_counts_every_odd_entry(odd_folder, tmp_path):
    run = tmp_path / "run"
    result = invoke(
        "pretrain", "--data", odd_folder, "--out", run, "--on-error", "skip", "--check-data", *FAST_PRETRAIN
    )
    assert result.exit_code == 0, result.output
    found = DIGITS + len(ODD)
    assert f"{found} found, {DIGITS} used, {len(ODD)} skipped" in result.output
    assert_odd_entries_listed(skipped_rows(run / "skipped.csv"), result.output)


def test_pretrain_raise_is_one_error_line_naming_an_odd_entry(odd_folder, tmp_path):
    line = one_error_line(
        invoke("pretrain", "--data", odd_folder, "--out", tmp_path / "run", "--check-data", *FAST_PRETRAIN)
    )
    named = [entry for entry in ODD if entry in line]
    assert len(named) == 1 and ODD[named[0]] in line and "--on-error skip" in line, line


def test_embed_skip_counts_every_odd_entry(odd_folder, trained_run, tmp_path):
    out = tmp_path / "emb"
    args = [
        "--run",
        trained_run,
        "--data",
        odd_folder,
        "--out",
        out,
        "--on-error",
        "skip",
        "--num-workers",
        0,
    ]
    result = invoke("embed", *args)
    assert result.exit_code == 0, result.output
    assert f"{DIGITS + len(ODD)} found, {DIGITS} embedded, {len(ODD)} skipped" in result.output
    assert np.load(out / "embeddings.npy").shape[0] == DIGITS
    assert_odd_entries_listed(skipped_rows(out / "skipped.csv"), result.output)


def test_eval_skip_counts_every_odd_entry(odd_folder, trained_run):
    result = invoke("eval", "--run", trained_run, "--data", odd_folder, "--on-error", "skip", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["skipped"] == len(ODD)
    assert {Path(name).name for name in report["skipped_files"]} == {Path(e).name for e in ODD}


def fail_for(victim: Path, make_failure):
    """A ``NaturalDomain.load`` that behaves like a buggy decoder for ``victim`` only."""
    real_load = NaturalDomain.load

    def load(self, item):
        return make_failure() if item.path == victim else real_load(self, item)

    return load


def codec_crash():
    raise RuntimeError("codec crashed\ninternal state dump that must not reach the report")


def test_any_exception_from_a_domain_is_a_skipped_file(digit_folder, tmp_path, monkeypatch):
    victim = sorted((digit_folder / "1").iterdir())[0]
    monkeypatch.setattr(NaturalDomain, "load", fail_for(victim, codec_crash))
    run = tmp_path / "run"
    result = invoke(
        "pretrain", "--data", digit_folder, "--out", run, "--on-error", "skip", "--check-data", *FAST_PRETRAIN
    )
    assert result.exit_code == 0, result.output
    assert f"{DIGITS} found, {DIGITS - 1} used, 1 skipped" in result.output
    assert skipped_rows(run / "skipped.csv") == {f"1/{victim.name}": "RuntimeError: codec crashed"}
    line = one_error_line(
        invoke("pretrain", "--data", digit_folder, "--out", tmp_path / "r2", "--check-data", *FAST_PRETRAIN)
    )
    assert victim.name in line and "RuntimeError: codec crashed" in line


def test_a_transform_failure_is_a_skipped_file(digit_folder, trained_run, monkeypatch):
    victim = sorted((digit_folder / "7").iterdir())[0]
    monkeypatch.setattr(NaturalDomain, "load", fail_for(victim, lambda: torch.zeros(3, 0, 8)))  # empty image
    result = invoke("eval", "--run", trained_run, "--data", digit_folder, "--on-error", "skip", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["skipped"] == 1
    ((name, reason),) = report["skipped_files"].items()
    assert name.endswith(victim.name) and re.fullmatch(r"\w+: [^\n]+", reason), reason
