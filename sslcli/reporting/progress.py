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


def training_progress(console: Console) -> Progress:
    """Bar with loss, learning rate, items/s and ETA; tasks need fields ``loss``, ``lr``, ``rate``."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("lr {task.fields[lr]:.2e}"),
        TextColumn("{task.fields[rate]:.1f} items/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


class ItemsPerSecondColumn(ProgressColumn):
    """Rich's smoothed speed estimate of the task, in items per second."""

    def render(self, task: Task) -> Text:
        return Text("? items/s" if task.speed is None else f"{task.speed:.1f} items/s")


def item_progress(console: Console) -> Progress:
    """Bar over items (scanning, embedding, feature extraction) with items/s and ETA."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        ItemsPerSecondColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )
