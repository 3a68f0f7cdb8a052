"""metrics.csv: a full disk names the file and leaves it as it was; a row cut short is dropped."""

import errno
from pathlib import Path

import pytest

from sslcli.metrics_csv import MetricsLog, read_metrics
from sslcli.run_dir import DiskFullError

ROW = dict(step=1, epoch=0, loss=2.5, lr=1e-3, items_per_s=10.0, elapsed_s=1.0)


class FullDisk:
    """A file handle that writes a few bytes, then fails as a full disk does."""

    def __init__(self, handle):
        self.handle = handle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()

    def seek(self, *args):
        return self.handle.seek(*args)

    def truncate(self, size):
        return self.handle.truncate(size)

    def write(self, data):
        self.handle.write(data[:5])
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_names_the_file_and_keeps_the_rows_before(tmp_path, monkeypatch):
    path = tmp_path / "metrics.csv"
    log = MetricsLog(path, None)
    log.append(**ROW)
    before = path.read_bytes()
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: FullDisk(real_open(self, *a, **k)))
    with pytest.raises(DiskFullError, match="metrics.csv: the disk is full"):
        log.append(**{**ROW, "step": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before


def test_resume_drops_a_row_cut_short(tmp_path):
    path = tmp_path / "metrics.csv"
    log = MetricsLog(path, None)
    log.append(**ROW)
    with path.open("a") as handle:
        handle.write("2,0,2.")  # killed mid-row
    MetricsLog(path, resume_after_step=5)
    assert [row["step"] for row in read_metrics(path)] == [1.0]
