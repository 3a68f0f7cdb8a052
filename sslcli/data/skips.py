"""Bad files carried as ``Skipped`` records instead of exceptions (so workers never crash), and
the log that raises on the first (``--on-error raise``) or lists them all (``skip``)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from sslcli.domains.base import BadItemError, Domain
from sslcli.errors import UserError
from sslcli.run_dir import write_text_atomic


@dataclass(frozen=True)
class Skipped:
    """A file that could not be used, and why; ``where`` names it in messages (``Domain.describe_item``)."""

    item_id: str
    reason: str
    where: str = ""


class BadFileError(UserError):
    """Raised in ``--on-error raise`` mode for the first unusable file."""


def skip_reason(err: Exception, domain: Domain) -> str:
    """One line: a ``BadItemError``'s own reason, else ``"<ExceptionType>: <first line of its message>"``
    (only the type where paths may identify patients: a foreign message may quote the file's path)."""
    if isinstance(err, BadItemError):
        return str(err)
    lines = str(err).strip().splitlines()
    if domain.identifying_paths or not lines:
        return f"{type(err).__name__} while decoding"
    return f"{type(err).__name__}: {lines[0]}"


class SkipLog:
    """Collects skipped files under ``--on-error skip``; raises on the first under ``raise``."""

    def __init__(self, on_error: str, data_root: Path):
        self.on_error, self.data_root = on_error, data_root
        self.records: dict[str, str] = {}

    def add(self, skipped: list[Skipped]) -> None:
        for record in skipped:
            if self.on_error == "raise":
                raise BadFileError(
                    f"{record.where or self.data_root / record.item_id}: {record.reason} "
                    "(use --on-error skip to skip)"
                )
            self.records.setdefault(record.item_id, record.reason)

    def read(self, path: Path) -> None:
        """Take back the records of a ``skipped.csv`` written by ``write``."""
        with path.open(newline="") as handle:
            self.records.update((row["item_id"], row["reason"]) for row in csv.DictReader(handle))

    def write(self, path: Path) -> None:
        """``item_id,reason`` rows; written even when empty so the counts can be checked."""
        lines = io.StringIO()
        writer = csv.writer(lines)
        writer.writerow(["item_id", "reason"])
        writer.writerows(sorted(self.records.items()))
        write_text_atomic(path, lines.getvalue())
