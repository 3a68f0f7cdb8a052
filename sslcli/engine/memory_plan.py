"""How large a training step fits the device's memory, measured before the run starts.

One forward pass of a copy of the encoder(s) over the views of a few real items (under the run's
autocast) counts the bytes autograd keeps for backward (``torch.autograd.graph.saved_tensors_hooks``,
each storage once): the activations a step holds per item. With the batch's own bytes, the data
loader's prefetched batches, and the weights, gradients and optimizer state, that gives the step's
footprint as ``fixed + per_item x batch``, compared with the memory the device has free (CUDA's free
memory; on the CPU the kernel's ``MemAvailable`` or the cgroup's limit, shared by the ranks of a node).

A batch the recipe chose that does not fit ``USABLE_SHARE`` of it is split into micro-batches with
gradient accumulation (the same items per optimizer step); a batch the user asked for that needs more
than all of it is refused with the estimate, before the run directory exists.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from sslcli.data.loader import PREFETCH_BATCHES

USABLE_SHARE = 0.8  # of the free memory a run plans to use: the rest for the allocator, libraries, files
# A step's peak over what autograd keeps. On the CPU the plan already exceeds the measured growth
# per item by about a third (ResNet-18 at 224 px: 54 MiB planned vs 40 measured; the video default's
# clips: 99 vs 73; benchmarks/bench_memory.py's growth table, 2026-12-06), so the saved tensors are
# taken as they are. On a GPU the caching allocator and backward's activation gradients come on top:
# an allowance, not yet measured there.
BACKWARD_FACTOR = {"cpu": 1.0, "cuda": 1.5}
WORKER_BYTES = 400 * 2**20  # resident memory of one data-loading process beyond the batches it holds
OPTIMIZER_COPIES = {"adamw": 4, "sgd": 3}  # weights, gradients, and the optimizer's state per weight
GiB = 2**30


@dataclass(frozen=True)
class MemoryPlan:
    """A step's footprint, ``fixed_bytes + per_item_bytes x batch``, against ``free_bytes``."""

    per_item_bytes: int
    fixed_bytes: int
    free_bytes: int
    device: str

    def needed(self, batch: int) -> int:
        return self.fixed_bytes + self.per_item_bytes * batch

    def largest_batch(self, share: float = USABLE_SHARE) -> int:
        """The most items per micro-batch that fit ``share`` of the free memory (0: none)."""
        room = self.free_bytes * share - self.fixed_bytes
        return max(0, math.floor(room / max(self.per_item_bytes, 1)))

    def describe(self, batch: int) -> str:
        return (
            f"batch {batch} needs about {self.needed(batch) / GiB:.1f} GiB on the {self.device} "
            f"({self.per_item_bytes / 2**20:.0f} MiB per item + {self.fixed_bytes / GiB:.1f} GiB), "
            f"{self.free_bytes / GiB:.1f} GiB free"
        )

    def record(self) -> dict[str, float | str]:
        """What ``config.json`` keeps of the plan (``memory``)."""
        return {
            "device": self.device,
            "per_item_mib": round(self.per_item_bytes / 2**20, 1),
            "fixed_gib": round(self.fixed_bytes / GiB, 2),
            "free_gib": round(self.free_bytes / GiB, 2),
        }


def saved_activation_bytes(run_forward) -> int:
    """Bytes of the tensors autograd saves for backward while ``run_forward()`` runs (each storage
    counted once: views of one tensor share it)."""
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        run_forward()
    return sum(storages.values())


def measure_step(backbone: torch.nn.Module, views: list[dict], autocast) -> int:
    """Bytes autograd keeps while the encoder(s) take every view of a batch (a deep copy in training
    mode, under ``autocast``, the random state restored after: the run is unchanged). The method's
    heads and loss are left out: beside the encoder's activations they are small, and MAE-style
    methods that encode a fraction of the tokens need less than this."""
    probe = copy.deepcopy(backbone).train()
    device = next(iter(views[0].values())).device
    with torch.random.fork_rng(devices=cuda_devices(device)), autocast():
        return saved_activation_bytes(lambda: encode_views(probe, views))


def encode_views(backbone: torch.nn.Module, views: list[dict]) -> list[torch.Tensor]:
    """Every input of every view through its encoder (one per input name for several inputs)."""
    several = isinstance(backbone, torch.nn.ModuleDict)
    return [
        (backbone[name] if several else backbone)(tensor) for view in views for name, tensor in view.items()
    ]


def cuda_devices(device: torch.device) -> list[torch.device]:
    """The devices whose random state ``fork_rng`` must keep besides the CPU's."""
    return [device] if device.type == "cuda" else []


def optimizer_bytes(method: torch.nn.Module, optimizer: str) -> int:
    """Weights, gradients and optimizer state of the trainable parameters (plus frozen weights)."""
    trainable = sum(p.numel() * p.element_size() for p in method.parameters() if p.requires_grad)
    frozen = sum(p.numel() * p.element_size() for p in method.parameters() if not p.requires_grad)
    return trainable * OPTIMIZER_COPIES[optimizer] + frozen


def free_memory(device: torch.device) -> int:
    """Bytes this process may use: the GPU's free memory, or this rank's share of the node's (torchrun
    sets ``LOCAL_WORLD_SIZE``, the ranks of this node)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return host_free_memory() // max(int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1), 1)


def host_free_memory() -> int:
    """The kernel's estimate of memory available without swapping, capped by a cgroup limit."""
    available = meminfo_available() or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    limit = cgroup_room()
    return min(available, limit) if limit is not None else available


def meminfo_available() -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def cgroup_room() -> int | None:
    """What a cgroup (v2 or v1) memory limit leaves (limit - usage), or None without a limit."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        with contextlib.suppress(OSError, ValueError):
            limit = Path(limit_file).read_text().strip()
            if limit != "max" and int(limit) < 2**60:
                return max(0, int(limit) - int(Path(usage_file).read_text().strip()))
    return None


def plan_memory(
    saved_bytes: int, probe_items: int, input_bytes: int, model_bytes: int, workers: int, free: int, device
) -> MemoryPlan:
    """The plan from a probe: ``saved_bytes`` of activations for ``probe_items`` items whose views
    take ``input_bytes``; each of ``workers`` loader processes holds ``PREFETCH_BATCHES`` batches."""
    per_item_input = input_bytes / probe_items
    held_batches = 1 + workers * PREFETCH_BATCHES  # the step's own, and what the workers prepare
    per_item = saved_bytes / probe_items * BACKWARD_FACTOR[device.type] + per_item_input * held_batches
    fixed = model_bytes + workers * WORKER_BYTES
    return MemoryPlan(math.ceil(per_item), fixed, free, "GPU" if device.type == "cuda" else "CPU")
