"""``metrics.csv``: one row per logged optimizer step, appended and flushed as training goes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sslcli.run_dir import disk_full_guard, write_text_atomic

COLUMNS = ("step", "epoch", "loss", "lr", "items_per_s", "elapsed_s")


def complete_rows(path: Path) -> list[dict[str, str]]:
    """The rows of ``path`` that have every column as a number (a row cut short by a kill is dropped)."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows, columns = list(reader), reader.fieldnames or COLUMNS

    def complete(row: dict) -> bool:
        try:
            for column in columns:
                float(row[column])
        except (TypeError, ValueError, KeyError):
            return False
        return None not in row  # no surplus fields

    return [row for row in rows if complete(row)]


class MetricsLog:
    def __init__(self, path: Path, resume_after_step: int | None, method_columns: tuple[str, ...] = ()):
        """Open ``path`` with the engine's columns then the method's (``Method.log_names``); on
        resume, rows after the checkpoint's step are dropped (they will be redone)."""
        self.path, self.columns = path, (*COLUMNS, *method_columns)
        rows = []
        if resume_after_step is not None and path.is_file():
            rows = [r for r in complete_rows(path) if float(r["step"]) <= resume_after_step]
        lines = [",".join(self.columns)] + [",".join(row.get(c, "nan") for c in self.columns) for row in rows]
        write_text_atomic(path, "\n".join(lines) + "\n")

    def append(self, **row: float) -> None:
        """Add one row; a write the disk cannot take leaves the file as it was."""
        line = io.StringIO()
        csv.DictWriter(line, self.columns).writerow(row)
        with disk_full_guard(self.path), self.path.open("ab", buffering=0) as handle:
            size = handle.seek(0, io.SEEK_END)
            try:
                handle.write(line.getvalue().encode())
            except OSError:
                handle.truncate(size)
                raise


def read_metrics(path: Path) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in row.items()} for row in complete_rows(path)]
