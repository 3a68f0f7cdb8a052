"""``--format parquet``: the same vectors and ids as npy, written in row groups and files as it streams,
readable after a kill at any point, resumed exactly, sharded like npy. Read back with pyarrow only."""

from __future__ import annotations

import errno
import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sslcli.jobs.embed as embed_module
import sslcli.jobs.parquet_stream as parquet_stream
from sslcli.jobs.embed_layout import read_embeddings
from sslcli.jobs.shards import Shard
from tests.conftest import invoke, one_error_line
from tests.jobs.embed_helpers import BATCH, part_dirs, read_index, run_embed

ROW_BYTES = 512 * 4


def read_parquet(folder):
    """(vectors, columns) of an ``embeddings.parquet`` folder, through pyarrow's own dataset reader."""
    table = pq.read_table(folder)
    vectors = np.array(table.column("embedding").to_pylist(), dtype=np.float32).reshape(-1, 512)
    columns = {name: table.column(name).to_pylist() for name in ("row", "item_id", "path", "label")}
    return vectors, columns


@pytest.fixture
def small_files(monkeypatch):
    """Row groups of 3 rows (one batch) and files of 9 rows, so 36 items make 4 files."""
    monkeypatch.setattr(parquet_stream, "ROW_GROUP_BYTES", 3 * ROW_BYTES)
    monkeypatch.setattr(parquet_stream, "FILE_BYTES", 9 * ROW_BYTES)


def test_parquet_and_npy_hold_the_same_vectors_and_ids(trained_run, digits_data, unsharded, tmp_path):
    out = tmp_path / "out"
    args = ("embed", "--run", trained_run, "--data", digits_data, "--out", out, "--num-workers", "0")
    result = invoke(*args, "--batch-size", BATCH, "--format", "parquet", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "embeddings.parquet (36 x 512 float32)" in result.output
    vectors, columns = read_parquet(out / "embeddings.parquet")
    np.testing.assert_array_equal(vectors, unsharded.vectors)
    assert columns["item_id"] == unsharded.ids
    assert columns["row"] == list(range(36))
    assert columns["path"] == [row["path"] for row in unsharded.index]
    assert columns["label"] == [row["label"] for row in unsharded.index]
    assert read_index(out / "index.csv") == unsharded.index
    schema = pq.read_schema(next((out / "embeddings.parquet").glob("*.parquet")))
    assert schema.field("embedding").type == pa.list_(pa.float32(), 512)
    assert schema.field("row").type == pa.int64()
    assert [schema.field(name).type for name in ("item_id", "path", "label")] == [pa.string()] * 3
    assert not (out / "embeddings.npy").exists()


def test_parquet_streams_in_row_groups_and_files(trained_run, digits_data, unsharded, tmp_path, small_files):
    out = tmp_path / "out"
    run_embed(trained_run, digits_data, out, fmt="parquet")
    files = sorted((out / "embeddings.parquet").iterdir())
    assert [f.name for f in files] == [f"{k:06d}.parquet" for k in range(4)]
    for file in files:
        metadata = pq.ParquetFile(file).metadata
        assert (metadata.num_rows, metadata.num_row_groups) == (9, 3)
    vectors, columns = read_parquet(out / "embeddings.parquet")
    np.testing.assert_array_equal(vectors, unsharded.vectors)
    assert columns["item_id"] == unsharded.ids


def kill_after(batches, monkeypatch):
    original = embed_module.feature_batches

    def killed(*args, **kwargs):
        for count, batch in enumerate(original(*args, **kwargs)):
            if count == batches:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(embed_module, "feature_batches", killed)
    return original


def test_killed_parquet_job_stays_readable_and_resumes(
    trained_run, digits_data, unsharded, tmp_path, small_files, monkeypatch
):
    out = tmp_path / "out"
    original = kill_after(5, monkeypatch)  # 15 rows: one closed file of 9, 6 rows in the open file
    with pytest.raises(KeyboardInterrupt):
        run_embed(trained_run, digits_data, out, fmt="parquet")
    folder = out / "embeddings.parquet"
    vectors, columns = read_parquet(folder)  # readable as it is: the closed file only
    np.testing.assert_array_equal(vectors, unsharded.vectors[:9])
    assert columns["item_id"] == unsharded.ids[:9]
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")]  # the open file, hidden
    state = json.loads((out / "embed_state.json").read_text())
    assert (state["rows"], state["files"], state["next_position"]) == (9, 1, 9)
    # a file closed after the last saved cursor (a kill between the rename and the state save)
    shutil.copy(folder / "000000.parquet", folder / "000001.parquet")

    monkeypatch.setattr(embed_module, "feature_batches", original)
    result = run_embed(trained_run, digits_data, out, fmt="parquet")
    assert not result.already_done and result.rows == 36
    vectors, columns = read_parquet(folder)
    np.testing.assert_array_equal(vectors, unsharded.vectors)
    assert columns["item_id"] == unsharded.ids and columns["row"] == list(range(36))
    assert sorted(p.name for p in folder.iterdir()) == [f"{k:06d}.parquet" for k in range(4)]
    assert read_index(out / "index.csv") == unsharded.index
    assert run_embed(trained_run, digits_data, out, fmt="parquet").already_done


def test_a_parquet_part_that_lost_a_file_is_embedded_again(
    trained_run, digits_data, unsharded, tmp_path, small_files, monkeypatch
):
    out = tmp_path / "out"
    original = kill_after(7, monkeypatch)  # 21 rows: two closed files
    with pytest.raises(KeyboardInterrupt):
        run_embed(trained_run, digits_data, out, fmt="parquet")
    (out / "embeddings.parquet" / "000000.parquet").unlink()
    monkeypatch.setattr(embed_module, "feature_batches", original)
    assert run_embed(trained_run, digits_data, out, fmt="parquet").rows == 36
    vectors, columns = read_parquet(out / "embeddings.parquet")
    np.testing.assert_array_equal(vectors, unsharded.vectors)
    assert columns["item_id"] == unsharded.ids


def test_disk_full_while_writing_parquet_is_one_line_and_resumes(
    trained_run, digits_data, unsharded, tmp_path, small_files, monkeypatch
):
    out = tmp_path / "out"
    original = pq.ParquetWriter.write_table
    calls = {"n": 0}

    def full_on_the_fifth_group(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full_on_the_fifth_group)
    args = ("embed", "--run", trained_run, "--data", digits_data, "--out", out, "--num-workers", "0")
    args += ("--batch-size", BATCH, "--format", "parquet", "--device", "cpu")
    line = one_error_line(invoke(*args))
    assert "000001.parquet" in line and "the disk is full" in line
    assert not [p for p in (out / "embeddings.parquet").iterdir() if p.name.startswith(".")]
    monkeypatch.setattr(pq.ParquetWriter, "write_table", original)
    assert invoke(*args).exit_code == 0
    vectors, columns = read_parquet(out / "embeddings.parquet")
    np.testing.assert_array_equal(vectors, unsharded.vectors)
    assert columns["item_id"] == unsharded.ids


def test_sharded_parquet_job(trained_run, digits_data, unsharded, tmp_path):
    out = tmp_path / "out"
    for index in (1, 0):
        run_embed(trained_run, digits_data, out, shard=Shard(index, 2), fmt="parquet")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "parquet" and manifest["rows"] == 36
    assert [p["embeddings"] for p in manifest["parts"]] == [
        f"parts/part-{i}-of-2/embeddings.parquet" for i in range(2)
    ]
    parts = [read_parquet(folder / "embeddings.parquet") for folder in part_dirs(out, 2)]
    np.testing.assert_array_equal(np.concatenate([v for v, _ in parts]), unsharded.vectors)
    assert [i for _, c in parts for i in c["item_id"]] == unsharded.ids
    assert [c["row"] for _, c in parts] == [list(range(18))] * 2  # numbered within the part
    vectors, index = read_embeddings(out)
    np.testing.assert_array_equal(vectors, unsharded.vectors)
    assert [row["item_id"] for row in index] == unsharded.ids


def test_a_format_change_on_resume_is_refused(trained_run, digits_data, tmp_path):
    out = tmp_path / "out"
    run_embed(trained_run, digits_data, out)
    line = one_error_line(
        invoke("embed", "--run", trained_run, "--data", digits_data, "--out", out, "--format", "parquet")
    )
    assert "holds npy embeddings" in line and "--format npy" in line
