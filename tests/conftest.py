"""Shared fixtures: small real image folders (scikit-learn digits) and a fast CLI pretraining recipe."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Tiny, CPU-friendly pretraining flags used by CLI tests (ResNet-18 small stem at 16 px).
FAST_PRETRAIN = [  # explicit architecture: tests do not follow the folder recipe's choice
    "--backbone",
    "resnet18",
    "--epochs",
    "1",
    "--batch-size",
    "8",
    "--input-size",
    "16",
    "--num-workers",
    "0",
    "--device",
    "cpu",
]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test materialises built-in samples into its own cache, never into the user's."""
    monkeypatch.setenv("SSLCLI_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def register():
    """``register(registry, thing)``: ``thing`` added to an sslcli registry under its name for one test."""
    added = []

    def add(registry, thing):
        registry.add(thing.name, thing, origin="a test")
        added.append((registry, thing.name))
        return thing

    yield add
    for registry, name in added:
        registry.remove(name)


def write_digit_folder(
    root: Path, classes: tuple[int, ...] = (0, 1, 7), per_class: int = 12, offset: int = 0
) -> Path:
    """Class sub-folders of real 8x8 digit PNGs (independent of sslcli's own sample code)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for digit in classes:
        folder = root / str(digit)
        folder.mkdir(parents=True, exist_ok=True)
        indices = np.flatnonzero(digits.target == digit)[offset : offset + per_class]
        for i in indices:
            Image.fromarray((digits.images[i] * 15).astype(np.uint8), mode="L").save(folder / f"img_{i}.png")
    return root


@pytest.fixture
def digit_folder(tmp_path) -> Path:
    return write_digit_folder(tmp_path / "digits")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One tiny finished pretraining run shared by embed/eval tests (read-only for them)."""
    from click.testing import CliRunner

    from sslcli.cli import main

    base = tmp_path_factory.mktemp("shared_run")
    data = write_digit_folder(base / "data")
    run = base / "run"
    os.environ.setdefault("NO_COLOR", "1")
    result = CliRunner().invoke(main, ["pretrain", "--data", str(data), "--out", str(run), *FAST_PRETRAIN])
    assert result.exit_code == 0, result.output
    return run


def invoke(*args):
    """Run the CLI in-process with every argument as a string."""
    from click.testing import CliRunner

    from sslcli.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(result) -> str:
    """The one ``Error:`` line of a failed command (and no traceback)."""
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def as_views(tensors: list) -> list[dict]:
    """Batched views as methods take them: one single-input sample per (B, C, H, W) tensor."""
    return [{"image": tensor} for tensor in tensors]
