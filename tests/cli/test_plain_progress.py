"""With stderr in a file (nohup, SLURM, CI) pretraining writes plain lines as it goes: the plan when
training starts, then a progress line every --log-every-s seconds; no control characters."""

import os
import re
import subprocess
import sys

from tests.conftest import FAST_PRETRAIN

CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # anything but printable text and newlines
PROGRESS = re.compile(
    r"^pretrain: step (\d+)/4, epoch 1/1, loss \d+\.\d+, lr \S+, \d+ items/s, elapsed \d+:\d\d:\d\d, "
    r"ETA (\d+:\d\d:\d\d|\?)$"
)
FP32 = ("--precision", "fp32")  # the plan line names the precision, which auto picks by the CPU


def test_pretrain_into_a_log_file_writes_the_plan_and_progress_lines(digit_folder, tmp_path):
    log = tmp_path / "stderr.log"
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE")}
    command = [sys.executable, "-m", "sslcli", "pretrain", "--data", str(digit_folder), "--out"]
    with log.open("w") as stderr:  # 36 items: 4 steps of 8; every step takes longer than 1 ms
        done = subprocess.run(
            [*command, str(tmp_path / "run"), *FAST_PRETRAIN, "--log-every-s", "0.001", *FP32],
            stdout=subprocess.DEVNULL, stderr=stderr, env=env, timeout=600,
        )  # fmt: skip
    text = log.read_text()
    assert done.returncode == 0, text
    assert not CONTROL.search(text), repr(text)
    lines = text.splitlines()
    plan = [line for line in lines if line.startswith("pretrain: 36 items")]
    assert plan == ["pretrain: 36 items, batch 8, 4 steps an epoch, 1 epoch (4 steps), device cpu, fp32"], (
        text
    )
    steps = [int(match[1]) for match in map(PROGRESS.match, lines) if match]
    assert len(steps) >= 2 and steps == sorted(steps) and steps[-1] == 4, text
