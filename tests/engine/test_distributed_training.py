"""Data-parallel training under torchrun on the CPU (gloo, two ranks).

Two ranks with batch B must train to the parameters one process with batch 2B reaches (the engine
shards each global batch over the ranks, DDP averages the gradients, MoCo enqueues every rank's keys,
DINO's centre is the mean over ranks, CPC scores every rank's targets), and a two-rank run killed
mid-epoch must resume to the parameters of one that was never interrupted. The domain
(``ddp_entry.py``) has no random augmentation and the backbone no batch norm, whose statistics are
per rank by design.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import torch

from tests.engine.ddp_entry import write_grids

ENTRY = Path(__file__).with_name("ddp_entry.py")
# float32 sums taken in another order (per rank, then all-reduced) over 12 SGD steps
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}
CONFIG = """\
checkpoint_every = 4
log_every = 1
warmup_epochs = 0.5
[views]
local_crops = 2
"""
METHOD_OPTIONS = {
    "moco_v2": "[method_options]\nqueue_size = 24\n",  # the queue wraps
    "dino": "",
    # few components: whitening 48 items' low-variance directions would amplify float noise
    "deepcluster": "[method_options]\nnum_clusters = 4\npca_dim = 8\n",
    "cpc": "[method_options]\nprediction_steps = 1\n",  # the ViT's 2 time steps: predict 1 ahead
}
DOMAINS = {"cpc": "toy_spectrogram"}  # the other methods train on the grids as images


def launch(args: list[str], processes: int, kill_after: int | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable]
    if processes > 1:
        command += ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    command.append(str(ENTRY))
    if kill_after is not None:
        command += ["--kill-after-step", str(kill_after)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command + args, capture_output=True, text=True, env=env, timeout=600)


def pretrain_args(data: Path, out: Path, method: str, batch_size: int) -> list[str]:
    config = out.parent / "config.toml"
    config.write_text(CONFIG + METHOD_OPTIONS[method])
    return [
        "pretrain", "--domain", DOMAINS.get(method, "toy_grid"), "--method", method,
        "--backbone", "vit_tiny_p8", "--data", str(data), "--out", str(out), "--config", str(config),
        "--epochs", "2",
        "--batch-size", str(batch_size), "--optimizer", "sgd", "--lr", "0.05", "--seed", "3",
        "--num-workers", "0", "--device", "cpu",
        "--precision", "fp32",  # the exact equivalence of N ranks and one: bf16 would round it away
    ]  # fmt: skip


def method_state(run: Path) -> dict[str, torch.Tensor]:
    saved = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    return saved["method"]


def losses(run: Path) -> torch.Tensor:
    with open(run / "metrics.csv", newline="") as handle:
        return torch.tensor([float(row["loss"]) for row in csv.DictReader(handle)])


def assert_same_parameters(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        if a[name].is_floating_point():
            torch.testing.assert_close(a[name], b[name], **TOLERANCE, msg=lambda m, n=name: f"{n}: {m}")
        else:
            assert torch.equal(a[name], b[name]), name


@pytest.fixture(scope="module")
def grids(tmp_path_factory) -> Path:
    return write_grids(tmp_path_factory.mktemp("grids"), 48)  # 6 global batches of 8 per epoch


@pytest.fixture(scope="module")
def trained(grids, tmp_path_factory):
    """``trained(method, processes)``: the run dir of a finished run (cached: each is trained once)."""
    runs: dict[tuple[str, int], Path] = {}

    def train(method: str, processes: int) -> Path:
        if (method, processes) not in runs:
            out = tmp_path_factory.mktemp(f"{method}_{processes}") / "run"
            done = launch(pretrain_args(grids, out, method, 8 // processes), processes)
            assert done.returncode == 0, done.stderr[-3000:]
            (out.parent / "stdout.txt").write_text(done.stdout)
            runs[method, processes] = out
        return runs[method, processes]

    return train


# deepcluster: each rank embeds a shard of the items for k-means, and the rows are gathered
@pytest.mark.parametrize("method", ["moco_v2", "dino", "deepcluster", "cpc"])
def test_two_ranks_with_batch_b_train_like_one_process_with_batch_2b(trained, method):
    one, two = trained(method, 1), trained(method, 2)
    assert_same_parameters(method_state(one), method_state(two))
    torch.testing.assert_close(losses(one), losses(two), **TOLERANCE)  # rank 0 logs the mean over ranks
    assert len(losses(two)) == 12  # 2 epochs x 48 items / (2 ranks x 4)


def test_bad_files_met_on_any_rank_are_skipped_and_listed_once(grids, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(grids, data)
    numpy.save(data / "bad.npy", numpy.zeros((3, 3), dtype=numpy.float32))  # not the domain's shape
    out = tmp_path / "run"
    done = launch([*pretrain_args(data, out, "moco_v2", 4), "--on-error", "skip"], 2)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out / "skipped.csv", newline="") as handle:
        listed = list(csv.DictReader(handle))
    assert [row["item_id"] for row in listed] == ["bad.npy"]
    assert "expected shape" in listed[0]["reason"]


def test_only_rank_0_reports_and_the_run_directory_is_complete(trained):
    run = trained("moco_v2", 2)
    assert sorted(p.name for p in run.iterdir()) == [
        ".sslcli.lock", "checkpoints", "config.json", "encoder.safetensors", "metrics.csv", "plots",
        "skipped.csv", "tb",
    ]  # fmt: skip
    assert (run.parent / "stdout.txt").read_text().count("pretrain: moco_v2 on toy_grid") == 1
    assert '"processes": 2' in (run / "config.json").read_text()


def test_a_killed_two_rank_run_resumes_to_the_uninterrupted_parameters(trained, grids, tmp_path):
    out = tmp_path / "run"
    args = pretrain_args(grids, out, "moco_v2", 4)
    killed = launch(args, 2, kill_after=5)
    assert killed.returncode != 0
    saved = torch.load(out / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert (saved["train_state"]["step"], saved["train_state"]["batch_in_epoch"]) == (4, 4)  # mid-epoch
    resumed = launch([*args, "--resume"], 2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    whole = method_state(trained("moco_v2", 2))
    assert_same_parameters(method_state(out), whole)
    moved = max((whole[k] - saved["method"][k]).abs().max() for k in whole if whole[k].is_floating_point())
    assert moved > 1e3 * TOLERANCE["atol"]  # steps 5-12 changed the parameters far beyond the tolerance
    torch.testing.assert_close(losses(out), losses(trained("moco_v2", 2)), **TOLERANCE)


def test_resuming_with_another_number_of_processes_is_refused(trained, grids, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(trained("moco_v2", 2), out)
    alone = launch([*pretrain_args(grids, out, "moco_v2", 4), "--resume", "--epochs", "3"], 1)
    assert alone.returncode == 1
    assert "trained by 2 process(es); resume it with as many" in alone.stderr
