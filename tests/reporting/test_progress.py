"""Progress lines fit an 80-column terminal whole: no column is cut to an ellipsis."""

import io

import pytest
from rich.console import Console

from sslcli.reporting.progress import item_progress, stage_progress, training_progress

CASES = {
    "training": (training_progress, "epoch 10/10", {"loss": 4.1234, "lr": 5e-4, "rate": 1234.5}),
    "eval items": (item_progress, "train: pretrained, random init, raw", {}),
    "eval stages": (stage_progress, "kNN, linear probe, label curve: random init", {}),
}


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_progress_lines_fit_the_terminal_whole(case, width):
    make, description, fields = case
    console = Console(file=io.StringIO(), width=width, record=True)
    progress = make(console)
    task = progress.add_task(description, total=39000, **fields)
    progress.update(task, completed=10000)
    console.print(progress.get_renderable())
    lines = [line for line in console.export_text().splitlines() if line.strip()]
    assert len(lines) == 1 and len(lines[0]) <= width
    assert "…" not in lines[0] and description in lines[0] and "10000/39000" in lines[0]
    assert "0:00:0" in lines[0]  # the elapsed time, whole
