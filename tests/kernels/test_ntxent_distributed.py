"""NT-Xent under torch.distributed: two gloo processes on CPU against one process on the whole batch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from sslcli.kernels.ntxent import nt_xent_reference

WORKER = Path(__file__).with_name("_ntxent_dist_worker.py")


def run_ranks(world: int, mode: str, inputs: Path, tmp_path: Path) -> list[dict]:
    env = {**os.environ, "TRITON_INTERPRET": "1", "SSLCLI_KERNELS": mode}
    outputs = [tmp_path / f"rank{rank}.pt" for rank in range(world)]
    store = tmp_path / "store"
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(rank), str(world), str(store), str(inputs), str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank, out in enumerate(outputs)
    ]
    for proc in procs:
        log, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, log
    return [torch.load(out) for out in outputs]


@pytest.mark.parametrize("mode", ["triton", "reference"])
def test_two_ranks_match_one_process_on_the_concatenated_batch(mode, tmp_path):
    world, n, d, temperature = 2, 5, 7, 0.3
    gen = torch.Generator().manual_seed(0)
    z_a, z_b = (torch.randn(world * n, d, generator=gen).requires_grad_() for _ in range(2))
    inputs = tmp_path / "inputs.pt"
    torch.save({"z_a": z_a.detach(), "z_b": z_b.detach(), "temperature": temperature}, inputs)
    ranks = run_ranks(world, mode, inputs, tmp_path)
    assert all(("_InfoNCEBackward" in r["graph"]) == (mode == "triton") for r in ranks)

    tau = torch.tensor(temperature, requires_grad=True)
    loss = nt_xent_reference(z_a, z_b, tau)  # no process group here: the whole batch at once
    loss.backward()
    # each rank averages its own rows; DDP then averages the ranks' gradients
    torch.testing.assert_close(
        torch.stack([r["loss"] for r in ranks]).mean(), loss.detach(), rtol=1e-5, atol=1e-6
    )
    torch.testing.assert_close(sum(r["tau"] for r in ranks) / world, tau.grad, rtol=1e-5, atol=1e-6)
    for rank, result in enumerate(ranks):
        rows = slice(rank * n, (rank + 1) * n)
        for name, full in (("z_a", z_a), ("z_b", z_b)):
            torch.testing.assert_close(result[name] / world, full.grad[rows], rtol=1e-5, atol=1e-7)
        local = nt_xent_reference(z_a[rows], z_b[rows], temperature, gather_distributed=False)
        torch.testing.assert_close(result["local"], local.detach(), rtol=1e-5, atol=1e-6)
        assert not torch.allclose(result["loss"], local)  # gathering changed the negatives
