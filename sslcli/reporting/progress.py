"""Progress of the long loops (pretrain steps, embed and eval items, eval stages): Rich's live bars on
a terminal; elsewhere (a log file under nohup or SLURM, a pipe, CI), where Rich would draw once at the
end, a plain line every ``every_s`` seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

WIDE = 100  # narrower consoles get progress lines without the bar, so that 80 columns fit the rest
PLAIN_EVERY_S = 30.0  # seconds between plain progress lines


def redraws(console: Console) -> bool:
    """Whether Rich redraws progress in place on ``console``: a terminal that is not dumb, or Jupyter."""
    return console.is_interactive or console.is_jupyter


def training_progress(
    console: Console, every_s: float = PLAIN_EVERY_S, clock: Callable[[], float] = time.monotonic
) -> Progress | PlainProgress:
    """Steps with loss, learning rate, items/s, elapsed time and ETA, and a bar where the console is
    wide enough for it; tasks need fields ``loss``, ``lr``, ``rate`` (and for plain lines ``epoch``)."""
    if not redraws(console):
        return PlainProgress(console, training_line, every_s, clock)
    bar = [BarColumn(bar_width=20)] if console.width >= WIDE else []
    return Progress(
        TextColumn("[bold]{task.description}"),
        *bar,
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("lr {task.fields[lr]:.1e}"),
        TextColumn("{task.fields[rate]:.0f} items/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def stage_progress(
    console: Console, every_s: float = PLAIN_EVERY_S, clock: Callable[[], float] = time.monotonic
) -> Progress | PlainProgress:
    """Stages that are not items (scoring each encoder, t-SNE maps): count and elapsed time."""
    if not redraws(console):
        return PlainProgress(console, stage_line, every_s, clock)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


class ItemsPerSecondColumn(ProgressColumn):
    """Rich's smoothed speed estimate of the task, in items per second."""

    def render(self, task: Task) -> Text:
        return Text("? items/s" if task.speed is None else f"{task.speed:.1f} items/s")


def item_progress(
    console: Console, every_s: float = PLAIN_EVERY_S, clock: Callable[[], float] = time.monotonic
) -> Progress | PlainProgress:
    """Items done (scanning, embedding, feature extraction) with items/s and ETA, and a bar where the
    console is wide enough for it."""
    if not redraws(console):
        return PlainProgress(console, item_line, every_s, clock)
    bar = [BarColumn(bar_width=30)] if console.width >= WIDE else []
    return Progress(
        TextColumn("[bold]{task.description}"),
        *bar,
        MofNCompleteColumn(),
        ItemsPerSecondColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


@dataclass
class PlainTask:
    """A task of ``PlainProgress``: what Rich's task holds, and when its last line was written."""

    description: str
    total: float | None
    completed: float
    fields: dict[str, Any]
    started_s: float
    shown_s: float  # the clock at the last line (at the start: none yet)
    shown: float | None = None  # ``completed`` at the last line
    start_completed: float = field(init=False)  # a resumed task's speed counts this process's work

    def __post_init__(self) -> None:
        self.start_completed = self.completed

    @property
    def finished(self) -> bool:
        return self.total is not None and self.completed >= self.total

    def count(self) -> str:
        total = "?" if self.total is None else f"{self.total:.0f}"
        return f"{self.completed:.0f}/{total}"

    def speed(self, now: float) -> float | None:
        """Units done per second since the task started, None before the first."""
        done, elapsed = self.completed - self.start_completed, now - self.started_s
        return done / elapsed if done > 0 and elapsed > 0 else None

    def elapsed(self, now: float) -> str:
        return clock_time(now - self.started_s)

    def eta(self, now: float) -> str:
        speed = self.speed(now)
        if speed is None or self.total is None:
            return "?"
        return clock_time(max(0.0, self.total - self.completed) / speed)


def clock_time(seconds: float) -> str:
    """``H:MM:SS``, as Rich's time columns show it."""
    return str(timedelta(seconds=int(max(0.0, seconds))))


def training_line(task: PlainTask, now: float) -> str:
    """``pretrain: step 120/400, epoch 2/10, loss 4.1234, lr 5.0e-04, 812 items/s, elapsed ..., ETA ...``"""
    fields = task.fields
    return (
        f"{task.description}: step {task.count()}, epoch {fields['epoch']}, loss {fields['loss']:.4f}, "
        f"lr {fields['lr']:.1e}, {fields['rate']:.0f} items/s, elapsed {task.elapsed(now)}, "
        f"ETA {task.eta(now)}"
    )


def item_line(task: PlainTask, now: float) -> str:
    """``embed: 1200/5000, 40.0 items/s, elapsed 0:00:30, ETA 0:01:35``"""
    speed = task.speed(now)
    rate = "?" if speed is None else f"{speed:.1f}"
    timing = f"elapsed {task.elapsed(now)}, ETA {task.eta(now)}"
    return f"{task.description}: {task.count()}, {rate} items/s, {timing}"


def stage_line(task: PlainTask, now: float) -> str:
    """``t-SNE map: raw input: 2/3, elapsed 0:00:12``"""
    return f"{task.description}: {task.count()}, elapsed {task.elapsed(now)}"


class PlainProgress:
    """Progress as plain lines, for a console Rich cannot redraw: a task's line every ``every_s``
    seconds while it advances, once when it completes, and at the end of the block if it moved since
    its last line (a loop stopped by an error). Lines are written unstyled and unwrapped, so a log
    file gets no control characters. Offers the part of Rich's ``Progress`` API the loops use."""

    def __init__(
        self,
        console: Console,
        line: Callable[[PlainTask, float], str],
        every_s: float = PLAIN_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.console, self.line, self.every_s, self.clock = console, line, every_s, clock
        self.tasks: list[PlainTask] = []

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc_info) -> None:
        now = self.clock()
        for task in self.tasks:
            if task.shown != task.completed:
                self._show(task, now)

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **fields) -> int:
        now = self.clock()
        self.tasks.append(PlainTask(description, total, completed, fields, started_s=now, shown_s=now))
        return len(self.tasks) - 1

    def update(
        self,
        task_id: int,
        *,
        total: float | None = None,
        completed: float | None = None,
        advance: float | None = None,
        description: str | None = None,
        **fields,
    ) -> None:
        """Change the task as Rich's ``Progress.update`` does; write its line when one is due."""
        task = self.tasks[task_id]
        task.total = task.total if total is None else total
        task.completed = (task.completed if completed is None else completed) + (advance or 0)
        task.description = task.description if description is None else description
        task.fields.update(fields)
        now = self.clock()
        if now - task.shown_s >= self.every_s or (task.finished and task.shown != task.completed):
            self._show(task, now)

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def _show(self, task: PlainTask, now: float) -> None:
        task.shown_s, task.shown = now, task.completed
        self.console.out(self.line(task, now), highlight=False)


def plan_line(
    items: int,
    config,
    processes: int,
    steps_per_epoch: int,
    budgeted: bool,
    total_steps: int,
    resumed_at: int,
) -> str:
    """What training is about to do, on one line: items, batch, steps, epochs or the time budget they
    are planned to fit (``budgeted``), and where a resumed run continues."""
    from sslcli.engine.time_budget import format_duration

    batch = f"batch {config.batch_size}" + (f" x {processes} processes" if processes > 1 else "")
    batch += f" x accumulate {config.accumulate}" if config.accumulate > 1 else ""
    if budgeted:
        length = f"epochs to fit a {format_duration(config.time_budget_s)} time budget"
    else:
        length = f"{config.epochs} epoch{'' if config.epochs == 1 else 's'} ({total_steps} steps)"
    resumed = f", resuming at step {resumed_at}" if resumed_at else ""
    return f"pretrain: {items} items, {batch}, {steps_per_epoch} steps an epoch, {length}{resumed}"
