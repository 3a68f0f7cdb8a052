"""Ctrl-C: one line on every process, and the note on how to continue from rank 0 only (under torchrun
the same Ctrl-C interrupts every rank)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sslcli.cli import main


@pytest.mark.parametrize(
    ("rank", "said"),
    [
        ("0", "interrupted (a pretrain run continues with --resume; embed resumes when re-run)\n"),
        ("1", "rank 1: interrupted\n"),
    ],
)
def test_an_interrupt_is_one_line_and_only_rank_0_says_how_to_continue(monkeypatch, rank, said):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("sslcli.cli.listing.print_listing", interrupt)
    result = CliRunner().invoke(main, ["methods"], env={"RANK": rank, "WORLD_SIZE": "2"})
    assert (result.exit_code, result.output) == (130, said)
