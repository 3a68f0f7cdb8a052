"""``metrics.csv``: one row per logged optimizer step, appended and flushed as training goes."""

from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ("step", "epoch", "loss", "lr", "items_per_s", "elapsed_s")


class MetricsLog:
    def __init__(self, path: Path, resume_after_step: int | None):
        """Open ``path``; on resume, rows after the checkpoint's step are dropped (they will be redone)."""
        self.path = path
        rows = []
        if resume_after_step is not None and path.is_file():
            with path.open(newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= resume_after_step]
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def append(self, **row: float) -> None:
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, COLUMNS).writerow(row)


def read_metrics(path: Path) -> list[dict[str, float]]:
    with path.open(newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]
