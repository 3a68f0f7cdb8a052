"""A SIGTERM (torchrun's agent stopping the survivors of a failed rank, a scheduler preempting a job)
or SIGHUP during training ends the command with one line saying how to continue, never silently or
with a traceback, and the run continues with --resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sslcli.domains import Item

from sslcli.data.datasets import ViewDataset
from sslcli.distributed import World
from sslcli.engine.stop_signals import StoppedBySignal, signals_stop_training, stop_message
from tests.conftest import FAST_PRETRAIN, invoke, write_digit_folder


def wait_for_line(path, start: str, timeout_s: float = 120) -> None:
    """Until a line of the file at ``path`` starts with ``start`` (progress lines: training is on)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(line.startswith(start) for line in path.read_text().splitlines()):
            return
        time.sleep(0.1)
    raise AssertionError(f"no line starting {start!r} in: {path.read_text()}")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_during_training_is_one_line_and_the_run_resumes(tmp_path, stop):
    data = write_digit_folder(tmp_path / "data", per_class=12)
    run, log = tmp_path / "run", tmp_path / "stderr.txt"
    flags = [*FAST_PRETRAIN, "--epochs", "30", "--batch-size", "4"]  # 9 steps an epoch, a checkpoint each
    command = [sys.executable, "-m", "sslcli", "pretrain", "--data", str(data), "--out", str(run), *flags]
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [*command, "--log-every-s", "0.01"], stderr=stderr, stdout=subprocess.DEVNULL
        )
        try:
            wait_for_line(log, "pretrain: step 11/")  # in epoch 2, after epoch 1's checkpoint
            os.kill(process.pid, stop)
            assert process.wait(timeout=120) == 128 + stop  # as the signal's own exit would say
        finally:
            process.kill()
    errors = [line for line in log.read_text().splitlines() if not line.startswith("pretrain")]
    assert errors == [
        f"Error: stopped by {stop.name}; the run continues from its last checkpoint with --resume"
    ]
    resumed = invoke("pretrain", "--out", run, "--resume", "--epochs", "2")
    assert resumed.exit_code == 0, resumed.output


def test_under_torchrun_every_rank_names_itself_and_only_rank_0_says_how_to_continue():
    assert stop_message(World(1, 4), "SIGTERM") == "rank 1: stopped by SIGTERM"
    assert stop_message(World(0, 4), "SIGTERM").startswith("rank 0: stopped by SIGTERM; ")
    assert "--resume" in stop_message(World(0, 4), "SIGTERM")


class SignalledWhileDecoding:
    """A domain whose decode is where the stop signal lands (the likeliest place: most of a step)."""

    def load(self, item: Item):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("the signal did not interrupt the decode")

    def describe_item(self, item: Item) -> str:
        return item.item_id


def test_a_signal_during_an_items_decode_stops_the_run_instead_of_becoming_a_bad_item():
    dataset = ViewDataset(
        SignalledWhileDecoding(), [Item("a", Path("a.png"), "a.png")], lambda sample: [sample], seed=0
    )
    with signals_stop_training(World(0, 1)), pytest.raises(StoppedBySignal) as stopped:
        dataset[0, 0]
    assert stopped.value.number == signal.SIGTERM
