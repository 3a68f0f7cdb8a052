"""A rank of a torchrun run that dies (SIGKILL) mid-training: every surviving rank says so in one line,
and only rank 0 adds how to continue.

The ranks are launched with the environment torchrun gives them (``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``...) but without torchrun's agent, which would SIGTERM the survivors as soon as it saw
the death: the test sees what each survivor itself reports, on its own stderr.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from torch.distributed import DistBackendError

from sslcli.distributed import World, lost_peer, lost_peer_message
from tests.engine.ddp_entry import write_grids
from tests.engine.test_distributed_training import ENTRY


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_ranks(args: list[str], size: int) -> list[subprocess.Popen]:
    """``size`` processes of ``ddp_entry.py args`` joined as ranks 0..size-1 of one process group."""
    common = {"WORLD_SIZE": str(size), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    return [
        subprocess.Popen(
            [sys.executable, str(ENTRY), *args],
            env={**os.environ, **common, "RANK": str(rank), "LOCAL_RANK": str(rank), "OMP_NUM_THREADS": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(size)
    ]


def test_every_surviving_rank_reports_a_killed_peer_in_one_line_and_only_rank_0_the_resume(tmp_path):
    data = write_grids(tmp_path / "data", 24)
    args = [
        "--kill-after-step", "1", "--kill-rank", "1",
        "pretrain", "--domain", "toy_grid", "--method", "simclr", "--data", str(data), "--out",
        str(tmp_path / "run"), "--epochs", "1", "--batch-size", "2", "--num-workers", "0", "--device", "cpu",
        "--logger", "none",
    ]  # fmt: skip
    ranks = launch_ranks(args, 3)
    try:
        errors = [rank.communicate(timeout=300)[1] for rank in ranks]
    finally:  # none left running if a rank hangs
        for rank in ranks:
            rank.kill()
    assert ranks[1].returncode == -9
    for rank in (0, 2):
        assert ranks[rank].returncode == 1, errors[rank]
        reported = [line for line in errors[rank].splitlines() if not line.startswith("pretrain")]  # progress
        assert len(reported) == 1, errors[rank]
        assert reported[0].startswith(f"Error: rank {rank}: lost contact with another process (gloo: ")
    assert errors[0].count("--resume") == 1
    assert "--resume" not in errors[2]


def test_nccl_words_are_kept_without_source_locations_and_other_errors_are_not_a_lost_peer():
    nccl = DistBackendError(
        "NCCL error in: /pytorch/torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:3356, remote process "
        "exited or there was a network error, NCCL version 2.21.5\nncclRemoteError: A call failed"
    )
    assert lost_peer(nccl)
    assert lost_peer_message(World(1, 2), "nccl", nccl) == (
        "rank 1: lost contact with another process (nccl: remote process exited or there was a network "
        "error, NCCL version 2.21.5)"
    )
    assert not lost_peer(RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x8 and 16x2)"))
