"""Rank and world size of this process, the torchrun process group, and the collectives training
uses (each a no-op when the process runs alone).

The world comes from an initialised ``torch.distributed`` process group, else from the environment
``torchrun`` sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); rank 0 of 1 alone. ``sslcli embed``
under torchrun needs only to know which shard it is and which GPU of its node to use; ``sslcli
pretrain`` joins the process group (``process_group``): NCCL on CUDA, gloo on the CPU.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sslcli.errors import UserError


@dataclass(frozen=True)
class World:
    """This process's place among the ranks, and the collectives a method may use through
    ``StepContext.world`` (each the identity when the process runs alone)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def alone(self) -> bool:
        return self.size == 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def gather(self, x):
        """Every rank's rows of ``x``, rank-major, gradients flowing back (``gather_batch``)."""
        return gather_batch(x)

    def gather_rows(self, x):
        """Every rank's rows of ``x``, rank-major, without gradient (``gather_rows``)."""
        return gather_rows(x)

    def all_reduce_mean(self, values):
        """The mean over ranks of ``values`` (``all_reduce_mean``)."""
        return all_reduce_mean(values)


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise UserError(f"environment variable {name}={text!r} is not an integer") from None


def _joined() -> bool:
    """Whether this process is in a process group (never imports torch: one that is not imported has
    joined none, and ``current_world`` stays instant for the CLI)."""
    dist = sys.modules.get("torch.distributed")
    return dist is not None and dist.is_available() and dist.is_initialized()


def current_world() -> World:
    """This process's place among its peers (``World()`` when it runs alone)."""
    local_rank = _env_int("LOCAL_RANK", 0)
    if _joined():
        import torch.distributed as dist

        return World(dist.get_rank(), dist.get_world_size(), local_rank)
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


@contextmanager
def process_group(device) -> Iterator[World]:
    """Join the process group torchrun launched this process into, for the duration (NCCL when
    ``device`` is CUDA, gloo on the CPU); alone, or already joined: nothing to do."""
    world = current_world()
    if world.alone or _joined():
        yield world
        return
    import torch
    import torch.distributed as dist

    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise UserError(
            f"WORLD_SIZE={world.size} but {', '.join(missing)} is not set: launch with torchrun "
            "(see README, 'Several GPUs and nodes')"
        )
    if device.type == "cuda":
        torch.cuda.set_device(local_device(device, world))
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend)
    try:
        yield current_world()
    except RuntimeError as err:  # torch.distributed.DistError is one
        if not lost_peer(err):
            raise
        raise PeerStopped(lost_peer_message(world, backend, err)) from None
    finally:
        dist.destroy_process_group()


class PeerStopped(UserError):
    """Another rank stopped the run (it printed why, or it died); this rank stops too."""


# what gloo and NCCL say when another rank died or stopped answering
_COLLECTIVE = re.compile(r"gloo|nccl|c10d|processgroup", re.IGNORECASE)
_PEER_GONE = re.compile(
    r"connection (closed|reset)|broken pipe|timed out|remote process exited|network error|aborted",
    re.IGNORECASE,
)
# where in gloo or NCCL the error was raised: "[.../pair.cc:538] ", "NCCL error in: .../file.cpp:3356, "
_SOURCE = re.compile(r"^\[[^\]]*\]\s*|^NCCL error in: [^,]*,\s*")
_ADDRESS = re.compile(r"\s*\[[^\]]*\]:\d+")  # " [127.0.0.1]:39044"


def lost_peer(err: RuntimeError) -> bool:
    """Whether ``err`` is a collective failing because another rank stopped answering: any
    ``torch.distributed.DistError``, or the bare RuntimeError gloo raises when a peer's socket closes."""
    import torch.distributed as dist

    text = str(err)
    return isinstance(err, dist.DistError) or bool(_COLLECTIVE.search(text) and _PEER_GONE.search(text))


def lost_peer_message(world: World, backend: str, err: RuntimeError) -> str:
    """One line for ``err`` (see ``lost_peer``): this rank, the backend's words without source locations
    or addresses, and on rank 0 how the run continues."""
    lines = str(err).strip().splitlines() or [type(err).__name__]
    words = _ADDRESS.sub("", _SOURCE.sub("", lines[0]))[:160]
    message = f"rank {world.rank}: lost contact with another process ({backend}: {words})"
    if world.is_main:
        message += "; the run continues from its last checkpoint with --resume"
    return message


# --- collectives (no-ops alone) -------------------------------------------------------------------
def _comm_device():
    """Where collective buffers live: the rank's GPU under NCCL, else the CPU."""
    import torch
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_mean(values):
    """The mean over ranks of ``values`` (a float tensor), on every rank; itself alone."""
    if not _joined():
        return values
    import torch.distributed as dist

    reduced = values.detach().to(_comm_device(), copy=True)
    dist.all_reduce(reduced)
    return (reduced / dist.get_world_size()).to(values.device)


def all_reduce_min(value: int) -> int:
    """The smallest ``value`` over ranks (e.g. the batch every rank can train on)."""
    if not _joined():
        return value
    import torch
    import torch.distributed as dist

    reduced = torch.tensor([value], device=_comm_device())
    dist.all_reduce(reduced, op=dist.ReduceOp.MIN)
    return int(reduced.item())


def gather_rows(x):
    """Rows ``x`` (m, ...) of every rank, rank-major (world * m, ...), without gradient; every rank
    must pass the same m. Alone: ``x``."""
    if not _joined():
        return x
    from sslcli.kernels.gather import all_gather_rows

    return all_gather_rows(x.detach())


def gather_batch(x):
    """Rows ``x`` (m, ...) of every rank, rank-major (world * m, ...), with gradients flowing back to
    the rank each row came from. A loss over the gathered batch, averaged over ranks by DDP, has the
    gradient of the same loss on one process holding the whole batch. Alone: ``x``."""
    if not _joined():
        return x
    from sslcli.kernels.gather import gather_with_grad

    return gather_with_grad(x)


def broadcast_module_state(module) -> None:
    """Copy rank 0's parameters and buffers into ``module`` on every rank (after a hook re-initialised
    something from each rank's own random state, e.g. a classifier)."""
    if not _joined():
        return
    import torch.distributed as dist

    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def _bytes_tensor(payload: bytes):
    import torch

    return torch.frombuffer(bytearray(payload), dtype=torch.uint8).to(_comm_device())


def broadcast_json(value: Any = None) -> Any:
    """Rank 0's ``value`` (anything JSON can carry) on every rank; JSON rather than pickle, so no
    rank unpickles what another sent."""
    if not _joined():
        return value
    import torch
    import torch.distributed as dist

    payload = json.dumps(value).encode() if dist.get_rank() == 0 else b""
    size = torch.tensor([len(payload)], device=_comm_device())
    dist.broadcast(size, src=0)
    buffer = (
        _bytes_tensor(payload) if payload else torch.empty(int(size), dtype=torch.uint8, device=size.device)
    )
    dist.broadcast(buffer, src=0)
    return json.loads(buffer.cpu().numpy().tobytes())


def all_gather_json(value: Any) -> list[Any]:
    """Every rank's ``value`` (anything JSON can carry), in rank order, on every rank."""
    if not _joined():
        return [value]
    import torch
    import torch.distributed as dist

    payload = json.dumps(value).encode()
    sizes = gather_rows(torch.tensor([len(payload)], device=_comm_device())).tolist()
    padded = _bytes_tensor(payload + bytes(max(sizes) - len(payload)))
    gathered = gather_rows(padded).view(dist.get_world_size(), -1).cpu().numpy()  # (world, longest)
    return [json.loads(row[:size].tobytes()) for row, size in zip(gathered, sizes, strict=True)]
