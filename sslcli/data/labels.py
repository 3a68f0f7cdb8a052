"""Labels for a folder of data: ``labels.csv`` (``path,label``), one sub-folder per class, or an item
attribute the domain exposes (``--label-attr``, e.g. DICOM Modality)."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

from sslcli.domains.base import Domain, Item
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


def attach_labels(
    root: Path,
    items: list[Item],
    domain: Domain | None = None,
    label_attr: str | None = None,
    folder_labels: bool = True,
) -> list[Item]:
    """Items with ``label`` set from ``domain``'s attribute ``label_attr`` when given, else from
    ``root/labels.csv`` or, failing that and if ``folder_labels``, their class sub-folder. Files are
    matched by their path relative to ``root`` (not ``rel_path``, which private domains replace by an id)."""
    if label_attr is not None:
        if domain is None:
            raise UserError("--label-attr needs the run's domain")
        try:
            return [replace(item, label=domain.label_from_attribute(item, label_attr)) for item in items]
        except ValueError as err:
            raise UserError(f"--label-attr: {err}") from None
    relative = [item.path.relative_to(root).as_posix() for item in items]
    csv_path = root / "labels.csv"
    if csv_path.is_file():
        table = read_labels_csv(csv_path)
        return [replace(item, label=table.get(rel)) for item, rel in zip(items, relative, strict=True)]
    if not folder_labels:
        return items
    return [
        replace(item, label=rel.split("/")[0] if "/" in rel else None)
        for item, rel in zip(items, relative, strict=True)
    ]


def shown_labels(labels: list[str | None], verbatim: bool) -> list[str | None]:
    """Labels as they may be drawn in a picture or written to a file.

    ``verbatim`` False (a domain whose paths may identify patients, labels not taken from an
    allow-listed attribute): each distinct label becomes an opaque ``class <k>``, numbered in sorted
    order, so a patient-named folder or a free-text label never leaves sslcli.
    """
    if verbatim:
        return labels
    codes = {name: f"class {k}" for k, name in enumerate(sorted({x for x in labels if x is not None}), 1)}
    return [None if label is None else codes[label] for label in labels]
