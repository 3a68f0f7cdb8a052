"""Progress lines fit an 80-column terminal whole: no column is cut to an ellipsis. Elsewhere (a log
file, a pipe) plain lines are written every so many seconds, and when a task completes."""

import io

import pytest
from rich.console import Console

from sslcli.reporting.progress import PlainProgress, item_progress, stage_progress, training_progress

CASES = {
    "training": (training_progress, "epoch 10/10", {"loss": 4.1234, "lr": 5e-4, "rate": 1234.5}),
    "eval items": (item_progress, "train: pretrained, random init, raw", {}),
    "eval stages": (stage_progress, "kNN, linear probe, label curve: random init", {}),
}


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_progress_lines_fit_the_terminal_whole(case, width):
    make, description, fields = case
    console = Console(file=io.StringIO(), width=width, record=True, force_terminal=True)
    progress = make(console)
    task = progress.add_task(description, total=39000, **fields)
    progress.update(task, completed=10000)
    console.print(progress.get_renderable())
    lines = [line for line in console.export_text().splitlines() if line.strip()]
    assert len(lines) == 1 and len(lines[0]) <= width
    assert "…" not in lines[0] and description in lines[0] and "10000/39000" in lines[0]
    assert "0:00:0" in lines[0]  # the elapsed time, whole


class ManualClock:
    """A clock that moves only when told."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_log_file_gets_a_training_line_every_interval_and_when_done():
    log, clock = io.StringIO(), ManualClock()
    progress = training_progress(Console(file=log, width=80), every_s=30, clock=clock)
    assert isinstance(progress, PlainProgress)
    fields = {"loss": 4.1234, "lr": 5e-4, "rate": 96.0, "epoch": "1/2"}
    with progress:
        task = progress.add_task("pretrain", total=40, completed=0, **fields)
        for _ in range(39):  # a step every 2 s: lines at 30 s and 60 s, then the last step's at 80 s
            clock.now += 2
            progress.update(task, advance=1, **{**fields, "epoch": "2/2"})
        clock.now += 2
        progress.update(task, advance=1, loss=3.5)
    assert log.getvalue().splitlines() == [
        "pretrain: step 15/40, epoch 2/2, loss 4.1234, lr 5.0e-04, 96 items/s, elapsed 0:00:30, ETA 0:00:50",
        "pretrain: step 30/40, epoch 2/2, loss 4.1234, lr 5.0e-04, 96 items/s, elapsed 0:01:00, ETA 0:00:20",
        "pretrain: step 40/40, epoch 2/2, loss 3.5000, lr 5.0e-04, 96 items/s, elapsed 0:01:20, ETA 0:00:00",
    ]


def test_a_log_file_gets_each_item_task_when_it_completes_or_stops():
    log, clock = io.StringIO(), ManualClock()
    with item_progress(Console(file=log, width=80), clock=clock) as progress:
        train = progress.add_task("train", total=100)
        clock.now += 4
        progress.update(train, advance=100)
        test = progress.add_task("test", total=50)
        clock.now += 1
        progress.advance(test, 10)  # then an error ends the block: the line says how far it got
    assert log.getvalue().splitlines() == [
        "train: 100/100, 25.0 items/s, elapsed 0:00:04, ETA 0:00:00",
        "test: 10/50, 10.0 items/s, elapsed 0:00:01, ETA 0:00:04",
    ]


def test_a_quiet_console_writes_no_lines():
    log = io.StringIO()
    with stage_progress(Console(file=log, quiet=True)) as progress:
        progress.advance(progress.add_task("t-SNE map", total=1))
    assert log.getvalue() == ""
