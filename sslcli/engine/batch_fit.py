"""The batch a new run trains with: lowered to what a small folder holds, to what a time budget needs
for enough optimizer steps (``engine.step_plan``), and split into micro-batches where it does not fit
the device's memory (``engine.memory_plan``). Each change is noted, with why."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch

from sslcli.config import PretrainConfig
from sslcli.data.datasets import ViewDataset
from sslcli.data.loader import collate
from sslcli.distributed import World
from sslcli.engine.acceleration import channels_last_views
from sslcli.engine.memory_plan import free_memory, measure_step, optimizer_bytes, plan_memory
from sslcli.engine.selection import scored_count
from sslcli.engine.step_plan import budget_steps, compute_seconds_per_item, planned_batch, seconds_per_item
from sslcli.engine.time_budget import format_duration
from sslcli.errors import UserError
from sslcli.methods import Method

MIN_BATCH = 2  # the fewest items per step any method can learn from (pairs, batch statistics)
PROBE_ITEMS = 16  # items whose step the memory and step plans measure


class BatchFit:
    """Fits ``config``'s batch; ``config`` then holds the batch, accumulation and lr to train with and
    ``notes`` say what changed. ``where`` names the data in messages; ``lr_scales`` (the user gave no
    lr): the lr follows the batch; ``chosen``: the user gave the batch, which is never lowered."""

    def __init__(self, config: PretrainConfig, world: World, where: str, lr_scales: bool, chosen: bool):
        self.config, self.world, self.where = config, world, where
        self.lr_scales, self.chosen = lr_scales, chosen
        self.notes: list[str] = []
        self.memory_record: dict | None = None  # how the step's memory was planned (config.json)
        self.step_estimate: float | None = None  # optimizer steps the budget should hold
        self.scored_items: int | None = None  # items each scoring of --select can afford

    def times_processes(self) -> str:
        return "" if self.world.alone else f" x {self.world.size} processes"

    def to_data(self, usable: int) -> None:
        """Lower the batch to what ``usable`` items hold (noted); refuse fewer than ``MIN_BATCH`` a step."""
        config = self.config
        fits = usable // (config.accumulate * self.world.size)
        if fits >= config.batch_size:
            return
        if fits < MIN_BATCH:
            raise UserError(
                f"{self.where}: {usable} usable item(s); {config.method} needs at least "
                f"{MIN_BATCH * config.accumulate * self.world.size} ({MIN_BATCH} per step x accumulate "
                f"{config.accumulate}{self.times_processes()})"
            )
        self.rebatch(
            fits,
            f"{usable} usable items are fewer than batch size {config.batch_size} x accumulate "
            f"{config.accumulate}; using batch size {fits}",
        )

    def rebatch(self, batch_size: int, note: str) -> None:
        """Train with ``batch_size`` items a step instead, noting why; an lr the user did not give
        follows the batch linearly."""
        old = self.config.batch_size
        lr = self.config.lr * batch_size / old if self.lr_scales else self.config.lr
        self.config = self.config.updated(batch_size=batch_size, lr=lr)
        self.notes.append(note + (f" (lr {lr:.3g}, scaled with the batch)" if self.lr_scales else ""))

    def to_device(
        self,
        method: Method,
        dataset: ViewDataset,
        usable: int,
        device: torch.device,
        autocast: Callable[[], AbstractContextManager],
    ) -> None:
        """Probe a few real items: under a time budget, a batch that leaves too few optimizer steps is
        lowered; one that does not fit memory is split."""
        views, count, load_s = probe_views(dataset, usable, device)
        if views is None:
            return  # too few usable items to measure: the batch checks report it
        if self.config.time_budget_s is not None:
            self.to_budget(method, views, count, load_s, device, autocast)
        self.to_memory(method, views, count, device, autocast)

    def to_budget(self, method, views, count: int, load_s: float, device, autocast) -> None:
        """The batch that gives the budget enough optimizer steps at the probe's cost per item (unless the
        user chose it), and how many items each scoring of ``--select`` can afford."""
        config = self.config
        compute_s = compute_seconds_per_item(method.backbone, views, count, autocast)
        item_s = seconds_per_item(load_s, compute_s, device.type, config.num_workers)
        batch = (
            config.batch_size
            if self.chosen
            else planned_batch(config.time_budget_s, item_s, config.batch_size)
        )
        self.step_estimate = budget_steps(config.time_budget_s, item_s, batch * config.accumulate)
        self.scored_items = scored_count(config.time_budget_s, item_s)
        if batch < config.batch_size:
            before = budget_steps(config.time_budget_s, item_s, config.batch_size * config.accumulate)
            self.rebatch(
                batch,
                f"time budget {format_duration(config.time_budget_s)}: batch {config.batch_size} leaves "
                f"about {before:.0f} optimizer steps at {item_s * 1000:.3g} ms an item; batch {batch} "
                f"about {self.step_estimate:.0f}",
            )

    def to_memory(self, method, views, count: int, device, autocast) -> None:
        """Measure a step's memory on the probe's items; a recipe's batch that does not fit becomes
        micro-batches with gradient accumulation (noted), a batch the user chose that does not fit is
        refused with the estimate."""
        saved = measure_step(method.backbone, views, autocast)
        input_bytes = sum(t.nbytes for view in views for t in view.values())
        memory = plan_memory(
            saved, count, input_bytes, optimizer_bytes(method, self.config.optimizer),
            self.config.num_workers, free_memory(device), device,
        )  # fmt: skip
        self.memory_record, config = memory.record(), self.config
        if self.chosen:  # refused only where even all the free memory is too little
            fits = memory.largest_batch(share=1.0)
            if fits < config.batch_size:
                advice = f"--batch-size {fits} or less" if fits >= MIN_BATCH else "a smaller --input-size"
                raise UserError(f"{memory.describe(config.batch_size)}: use {advice}")
            return
        fits = memory.largest_batch()
        if fits >= config.batch_size:
            return
        if fits < MIN_BATCH:
            raise UserError(f"{memory.describe(config.batch_size)}: use a smaller --input-size")
        items_per_step = config.batch_size * config.accumulate
        accumulate = math.ceil(items_per_step / fits)
        micro = items_per_step // accumulate  # at most ``fits``, and never more items than the folder's
        self.config = config.updated(batch_size=micro, accumulate=accumulate)
        self.notes.append(
            f"memory: {memory.describe(config.batch_size)}; training batch {micro} x accumulate "
            f"{accumulate} instead ({micro * accumulate} items a step, the same lr)"
        )


def probe_views(dataset: ViewDataset, usable: int, device: torch.device) -> tuple[list | None, int, float]:
    """The views of the first ``PROBE_ITEMS`` usable items, batched on ``device``, how many items they
    hold and the seconds an item took to decode and view; None when fewer than ``MIN_BATCH`` decode."""
    samples, batch = [], collate([])
    started = time.perf_counter()
    for position in range(min(usable, 4 * PROBE_ITEMS)):  # bad files are passed over
        samples.append(dataset[(0, position)])  # seeded per item: draws nothing global
        batch = collate(samples)
        if len(batch) == PROBE_ITEMS:
            break
    if len(batch) < MIN_BATCH:
        return None, 0, 0.0
    load_s = (time.perf_counter() - started) / len(samples)
    views = [{name: t.to(device) for name, t in view.items()} for view in batch.views]
    return channels_last_views(views), len(batch), load_s
