import numpy as np
import pytest

from sslcli.jobs.npy_stream import HEADER_BYTES, MissingRows, NpyRowWriter


def test_rows_appended_in_blocks_load_with_numpy(tmp_path):
    path = tmp_path / "e.npy"
    blocks = [
        np.random.default_rng(i).normal(size=(n, 5)).astype(np.float32) for i, n in enumerate([3, 1, 7])
    ]
    writer = NpyRowWriter(path, 5)
    for block in blocks:
        writer.append(block)
        assert np.load(path).shape == (writer.rows, 5)  # valid after every append
    writer.close()
    assert np.array_equal(np.load(path), np.concatenate(blocks))
    assert np.array_equal(np.load(path, mmap_mode="r")[3], blocks[1][0])


def test_reopening_keeps_the_first_rows_and_drops_a_torn_tail(tmp_path):
    path = tmp_path / "e.npy"
    data = np.arange(20, dtype=np.float32).reshape(5, 4)
    writer = NpyRowWriter(path, 4)
    writer.append(data)
    writer.close()
    with path.open("ab") as handle:
        handle.write(b"\x01\x02\x03")  # a partial row from a killed process
    writer = NpyRowWriter(path, 4, rows=3)
    writer.append(data[:1] + 100)
    writer.close()
    assert np.array_equal(np.load(path), np.concatenate([data[:3], data[:1] + 100]))
    assert path.stat().st_size == HEADER_BYTES + 4 * 4 * 4


def test_reopening_a_file_holding_fewer_rows_refuses_to_pad_it(tmp_path):
    path = tmp_path / "e.npy"
    writer = NpyRowWriter(path, 4)
    writer.append(np.ones((2, 4), dtype=np.float32))
    writer.close()
    with pytest.raises(MissingRows, match="holds 2 of the 3 rows"):
        NpyRowWriter(path, 4, rows=3)
    with pytest.raises(MissingRows, match="holds 0 of the 1 rows"):
        NpyRowWriter(tmp_path / "gone.npy", 4, rows=1)
    assert np.array_equal(np.load(path), np.ones((2, 4), dtype=np.float32))  # left as it was
