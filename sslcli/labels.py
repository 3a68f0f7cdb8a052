"""Labels for a folder of data: ``labels.csv`` (``path,label``) or one sub-folder per class."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

from sslcli.domains.base import Item
from sslcli.errors import UserError


def read_labels_csv(path: Path) -> dict[str, str]:
    """``path,label`` rows (header optional) keyed by the POSIX path relative to the csv's folder."""
    labels: dict[str, str] = {}
    with path.open(newline="") as handle:
        for line_no, row in enumerate(csv.reader(handle), start=1):
            if not row or (line_no == 1 and [c.strip().lower() for c in row[:2]] == ["path", "label"]):
                continue
            if len(row) < 2:
                raise UserError(f"{path}: line {line_no} needs 'path,label'")
            labels[Path(row[0].strip()).as_posix()] = row[1].strip()
    return labels


def attach_labels(root: Path, items: list[Item]) -> list[Item]:
    """Items with ``label`` set from ``root/labels.csv`` or, failing that, their class sub-folder."""
    csv_path = root / "labels.csv"
    if csv_path.is_file():
        table = read_labels_csv(csv_path)
        return [replace(item, label=table.get(item.rel_path)) for item in items]
    return [
        replace(item, label=item.rel_path.split("/")[0] if "/" in item.rel_path else None) for item in items
    ]
