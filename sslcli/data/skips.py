"""Bad files carried as ``Skipped`` records instead of exceptions (so workers never crash), and
the log that raises on the first (``--on-error raise``) or lists them all (``skip``), as the terminal
shows them: ids and reasons with control characters escaped (``printable``), in memory and in
``skipped.csv``."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from sslcli.domains.base import Domain, Item
from sslcli.domains.discovery import BadItemError
from sslcli.errors import UserError, printable
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
        self.records: dict[str, str] = {}  # reason by item id, both escaped (``printable``)

    def add(self, skipped: list[Skipped]) -> None:
        for record in skipped:
            if self.on_error == "raise":
                raise BadFileError(
                    f"{record.where or self.data_root / record.item_id}: {record.reason} "
                    "(use --on-error skip to skip)"
                )
            self.records.setdefault(printable(record.item_id), printable(record.reason))

    def kept(self, items: list[Item]) -> list[Item]:
        """``items`` less those recorded (looked up by their escaped ids)."""
        return [item for item in items if printable(item.item_id) not in self.records]

    def read(self, path: Path) -> None:
        """Take back the records of a ``skipped.csv`` written by ``write`` (escaped again: an older
        version wrote them raw)."""
        with path.open(newline="") as handle:
            rows = csv.DictReader(handle)
            self.records.update((printable(row["item_id"]), printable(row["reason"])) for row in rows)

    def write(self, path: Path) -> None:
        """``item_id,reason`` rows; written even when empty so the counts can be checked."""
        lines = io.StringIO()
        writer = csv.writer(lines)
        writer.writerow(["item_id", "reason"])
        writer.writerows(sorted(self.records.items()))
        write_text_atomic(path, lines.getvalue())
