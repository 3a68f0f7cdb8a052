"""Fixtures of the embed tests: one unsharded npy reference per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.jobs.embed_helpers import Embedded, read_flat, run_embed


@pytest.fixture(scope="session")
def digits_data(trained_run) -> Path:
    return trained_run.parent / "data"


@pytest.fixture(scope="session")
def unsharded(trained_run, digits_data, tmp_path_factory) -> Embedded:
    """The whole corpus embedded by one process in the flat layout (the reference of every split)."""
    out = tmp_path_factory.mktemp("unsharded") / "out"
    result = run_embed(trained_run, digits_data, out)
    assert result.rows == 36 and not result.skipped
    return read_flat(out)
