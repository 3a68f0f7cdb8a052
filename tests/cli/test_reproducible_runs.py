"""Two identical runs give byte-identical encoders, so users can compare runs by hash."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from tests.conftest import FAST_PRETRAIN, write_digit_folder


def test_two_identical_single_thread_runs_write_the_same_encoder_bytes(tmp_path):
    data = write_digit_folder(tmp_path / "data", per_class=6)
    digests = []
    for name in ("a", "b"):  # separate processes: nothing shared but the command
        run = tmp_path / name
        command = ["pretrain", "--data", str(data), "--out", str(run), *FAST_PRETRAIN, "--threads", "1"]
        done = subprocess.run([sys.executable, "-m", "sslcli", *command], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        digests.append(hashlib.sha256((run / "encoder.safetensors").read_bytes()).hexdigest())
    assert digests[0] == digests[1]
