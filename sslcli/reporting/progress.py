"""Rich progress bars for the long loops (pretrain steps, embed and eval batches)."""

from __future__ import annotations

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


def training_progress(console: Console) -> Progress:
    """Steps with loss, learning rate, items/s, elapsed time and ETA, and a bar where the console is
    wide enough for it; tasks need fields ``loss``, ``lr``, ``rate``."""
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


def stage_progress(console: Console) -> Progress:
    """Stages that are not items (scoring each encoder, t-SNE maps): count and elapsed time."""
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


def item_progress(console: Console) -> Progress:
    """Items done (scanning, embedding, feature extraction) with items/s and ETA, and a bar where the
    console is wide enough for it."""
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
