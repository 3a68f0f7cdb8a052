"""One rank of the two-process gloo NT-Xent check; run by test_ntxent_distributed.py.

Usage: python _ntxent_dist_worker.py RANK WORLD STORE_FILE INPUTS OUTPUT
"""

import sys

import torch
import torch.distributed as dist
from sslcli.kernels import nt_xent


def graph_names(node, seen=None) -> set[str]:
    """The type names of every node of the autograd graph below ``node``."""
    seen = set() if seen is None else seen
    if node is None or node in seen:
        return set()
    seen.add(node)
    names = {type(node).__name__}
    for child, _ in node.next_functions:
        names |= graph_names(child, seen)
    return names


def main(rank: int, world: int, store: str, inputs: str, output: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    data = torch.load(inputs)
    n = data["z_a"].shape[0] // world
    z_a = data["z_a"][rank * n : (rank + 1) * n].clone().requires_grad_()  # (n, D) this rank's slice
    z_b = data["z_b"][rank * n : (rank + 1) * n].clone().requires_grad_()
    tau = torch.tensor(data["temperature"], requires_grad=True)
    loss = nt_xent(z_a, z_b, tau)
    loss.backward()
    local = nt_xent(z_a, z_b, data["temperature"], gather_distributed=False)
    result = {"loss": loss.detach(), "z_a": z_a.grad, "z_b": z_b.grad, "tau": tau.grad, "local": local}
    torch.save({**result, "graph": sorted(graph_names(loss.grad_fn))}, output)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:6])
