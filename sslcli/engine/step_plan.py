"""How many items an optimizer step takes under ``--time-budget``: enough steps for the budget.

Self-supervised methods need hundreds of optimizer steps before their features beat the input: a
12-minute CPU run of the audio default took batches of 256 from 720 clips, 34 steps in all, and its
features ended below an untrained network's on real speech (NOTES.md, "Measured facts about quality").
So under a budget the batch a recipe suggests (or the generic default) is an upper bound: it is halved
until the budget holds at least ``TARGET_STEPS`` steps at the measured cost of one item, but not below
``MIN_PLANNED_BATCH`` (contrastive losses need negatives in the batch, batch norm needs statistics).
The cost of an item is timed on the probe's real items before the run starts: decoding and views (on a
CPU the loader shares the cores with training, so both count; a GPU leaves compute to the device and
decoding to ``workers`` processes) and the encoder's forward and backward over every view, on a copy
whose random state is restored (the run is unchanged). A few items cost more each than a full batch's
share, so the estimate errs towards more steps. The epochs are planned afterwards from the real steps
(``engine.time_budget``); the learning rate follows the batch linearly.
"""

from __future__ import annotations

import copy
import time

import torch

from sslcli.engine.memory_plan import cuda_devices, encode_views
from sslcli.engine.time_budget import SAFETY

TARGET_STEPS = 500
MIN_PLANNED_BATCH = 32


def budget_steps(budget_s: float, item_s: float, batch: int) -> float:
    """Optimizer steps of ``batch`` items that ``SAFETY`` of the budget holds at ``item_s`` an item."""
    return SAFETY * budget_s / max(item_s * batch, 1e-9)


def planned_batch(budget_s: float, item_s: float, largest: int) -> int:
    """``largest`` halved until the budget holds ``TARGET_STEPS`` steps, at least ``MIN_PLANNED_BATCH``
    (``largest`` itself when it is smaller)."""
    batch = largest
    while batch > MIN_PLANNED_BATCH and budget_steps(budget_s, item_s, batch) < TARGET_STEPS:
        batch = max(MIN_PLANNED_BATCH, batch // 2)
    return batch


def compute_seconds_per_item(backbone: torch.nn.Module, views: list[dict], count: int, autocast) -> float:
    """Seconds of the encoder(s)' forward and backward over every view, per item of the ``count`` the
    views hold: the second of two passes on a copy (the first warms up allocators and kernels)."""
    probe = copy.deepcopy(backbone).train()
    device = next(iter(views[0].values())).device

    def step() -> None:
        with autocast():
            outputs = encode_views(probe, views)
        torch.stack([output.float().sum() for output in outputs]).sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    with torch.random.fork_rng(devices=cuda_devices(device)):
        step()
        started = time.perf_counter()
        step()
        return (time.perf_counter() - started) / count


def seconds_per_item(load_s: float, compute_s: float, device_type: str, workers: int) -> float:
    """One item's share of a step: on a CPU decoding and compute share the cores, elsewhere the
    ``workers`` decode beside the device and the slower of the two sets the pace."""
    if device_type == "cpu":
        return load_s + compute_s
    return max(compute_s, load_s / max(workers, 1))
