"""Rank and world size of this process: from an initialised ``torch.distributed`` process group, else
from the environment ``torchrun`` sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); rank 0 of 1 alone.

Nothing here starts a process group: ``sslcli embed`` under torchrun needs only to know which shard
it is, and which GPU of its node to use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sslcli.errors import UserError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def alone(self) -> bool:
        return self.size == 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise UserError(f"environment variable {name}={text!r} is not an integer") from None


def _process_group() -> tuple[int, int] | None:
    try:
        import torch.distributed as dist
    except ImportError:  # a torch build without distributed support
        return None
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return None


def current_world() -> World:
    """This process's place among its peers (``World()`` when it runs alone)."""
    local_rank = _env_int("LOCAL_RANK", 0)
    group = _process_group()
    if group is not None:
        return World(group[0], group[1], local_rank)
    size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    if size < 1 or not 0 <= rank < size:
        raise UserError(f"environment: RANK={rank} is not within WORLD_SIZE={size}")
    if size == 1:
        return World()
    return World(rank, size, local_rank)


def local_device(device, world: World | None = None):
    """``device`` pinned to this rank's GPU (``cuda:LOCAL_RANK``) when several ranks share a node."""
    import torch

    world = current_world() if world is None else world
    if device.type == "cuda" and device.index is None and not world.alone:
        return torch.device("cuda", world.local_rank)
    return device
