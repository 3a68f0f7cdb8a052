"""Sharded embed: shards i/n written separately (in any order, or at once) into one OUT concatenate to
the unsharded output; a killed shard resumes, a finished one is never recomputed, a shard of another
job is refused, the last part writes the manifest, and torchrun's environment picks the shard."""

from __future__ import annotations

import hashlib
import json
import threading

import numpy as np
import pytest

import sslcli.jobs.embed as embed_module
from sslcli.errors import UserError
from sslcli.jobs.embed_layout import read_embeddings
from sslcli.jobs.shards import Shard
from sslcli.run_dir import exclusive
from tests.conftest import invoke, one_error_line
from tests.jobs.embed_helpers import Embedded, part_dirs, read_flat, read_index, run_embed


def concatenated(out, count) -> Embedded:
    parts = [read_flat(folder) for folder in part_dirs(out, count)]
    return Embedded(np.concatenate([p.vectors for p in parts]), [row for p in parts for row in p.index])


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1)])
def test_shards_run_in_any_order_concatenate_to_the_unsharded_output(
    trained_run, digits_data, unsharded, tmp_path, order
):
    out = tmp_path / "out"
    for k, index in enumerate(order):
        result = run_embed(trained_run, digits_data, out, shard=f"{index}/3")
        assert result.rows == 12 and result.shard == Shard(index, 3) and not result.already_done
        last = k == len(order) - 1
        assert (out / "manifest.json").is_file() == last
        assert result.manifest == (out / "manifest.json" if last else None)
        assert result.waiting == ([] if last else sorted(set(range(3)) - set(order[: k + 1])))
    assert not (out / "embeddings.npy").exists()  # the flat layout is only for unsharded jobs
    joined = concatenated(out, 3)
    np.testing.assert_array_equal(joined.vectors, unsharded.vectors)
    assert joined.ids == unsharded.ids
    assert [r["path"] for r in joined.index] == [r["path"] for r in unsharded.index]
    assert [r["label"] for r in joined.index] == [r["label"] for r in unsharded.index]
    for folder in part_dirs(out, 3):  # rows are numbered within their part
        assert [row["row"] for row in read_index(folder / "index.csv")] == [str(i) for i in range(12)]
        assert (folder / "skipped.csv").read_text().splitlines() == ["item_id,reason"]


def test_manifest_lists_the_parts_in_order_with_totals(trained_run, digits_data, unsharded, tmp_path):
    out = tmp_path / "out"
    for index in range(4):  # 36 items in 4 shards of 9
        run_embed(trained_run, digits_data, out, shard=Shard(index, 4))
    manifest = json.loads((out / "manifest.json").read_text())
    encoder_sha = hashlib.sha256((trained_run / "encoder.safetensors").read_bytes()).hexdigest()
    ids_sha = hashlib.sha256("\n".join(unsharded.ids).encode()).hexdigest()
    assert manifest["shards"] == 4 and manifest["format"] == "npy" and manifest["dtype"] == "float32"
    assert manifest["dim"] == 512 and manifest["encoder_sha256"] == encoder_sha
    assert manifest["data_set"] == {"items": 36, "ids_sha256": ids_sha}
    assert manifest["rows"] == 36 and manifest["skipped"] == 0
    assert [p["shard"] for p in manifest["parts"]] == [0, 1, 2, 3]
    assert [p["first_item"] for p in manifest["parts"]] == [0, 9, 18, 27]
    assert [p["first_row"] for p in manifest["parts"]] == [0, 9, 18, 27]
    assert [p["rows"] for p in manifest["parts"]] == [9] * 4
    for i, part in enumerate(manifest["parts"]):
        assert part["folder"] == f"parts/part-{i}-of-4"
        assert np.load(out / part["embeddings"]).shape == (part["rows"], 512)
        assert len(read_index(out / part["index"])) == part["rows"]
    vectors, index = read_embeddings(out)  # sslcli's reader agrees with the reference
    np.testing.assert_array_equal(vectors, unsharded.vectors)
    assert [row["item_id"] for row in index] == unsharded.ids
    assert [row["row"] for row in index] == [str(i) for i in range(36)]


def test_shard_boundaries_off_the_batch_grid_agree_up_to_rounding(
    trained_run, digits_data, unsharded, tmp_path
):
    out = tmp_path / "out"
    for index in (4, 1, 3, 0, 2):  # 36 items in 5 shards: 7, 7, 7, 7, 8 (boundaries inside batches)
        run_embed(trained_run, digits_data, out, shard=Shard(index, 5))
    joined = concatenated(out, 5)
    assert [len(read_index(p / "index.csv")) for p in part_dirs(out, 5)] == [7, 7, 7, 7, 8]
    assert joined.ids == unsharded.ids
    np.testing.assert_allclose(joined.vectors, unsharded.vectors, rtol=0, atol=1e-5)


def kill_after_two_batches(run, data, out, shard: str, monkeypatch):
    """Embed ``shard`` and stop it, as a kill would, after its second batch; returns the real
    ``feature_batches`` to put back."""
    original = embed_module.feature_batches

    def killed_after_two_batches(*args, **kwargs):
        for count, batch in enumerate(original(*args, **kwargs)):
            if count == 2:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(embed_module, "feature_batches", killed_after_two_batches)
    with pytest.raises(KeyboardInterrupt):
        run_embed(run, data, out, shard=shard)
    return original


def test_killed_shard_resumes_to_the_same_part(trained_run, digits_data, unsharded, tmp_path, monkeypatch):
    out = tmp_path / "out"
    original = kill_after_two_batches(trained_run, digits_data, out, "1/3", monkeypatch)
    part = part_dirs(out, 3)[1]
    assert np.load(part / "embeddings.npy").shape == (6, 512)  # two batches of 3, loadable
    assert not (out / "manifest.json").exists()
    monkeypatch.setattr(embed_module, "feature_batches", original)
    result = run_embed(trained_run, digits_data, out, shard="1/3")
    assert not result.already_done and result.rows == 12
    resumed = read_flat(part)
    np.testing.assert_array_equal(resumed.vectors, unsharded.vectors[12:24])
    assert resumed.ids == unsharded.ids[12:24]
    assert [row["row"] for row in resumed.index] == [str(i) for i in range(12)]


def test_a_killed_shard_whose_embeddings_were_removed_starts_over(
    trained_run, digits_data, unsharded, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    original = kill_after_two_batches(trained_run, digits_data, out, "0/3", monkeypatch)
    part = part_dirs(out, 3)[0]
    (part / "embeddings.npy").unlink()
    monkeypatch.setattr(embed_module, "feature_batches", original)
    assert run_embed(trained_run, digits_data, out, shard="0/3").rows == 12
    again = read_flat(part)  # not 6 rows of zeros followed by 6 real ones
    np.testing.assert_array_equal(again.vectors, unsharded.vectors[:12])
    assert again.ids == unsharded.ids[:12]


def test_rerunning_a_finished_shard_does_nothing(trained_run, digits_data, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = invoke("embed", "--run", trained_run, "--data", digits_data, "--out", out, "--shard", "2/3")
    assert first.exit_code == 0, first.output
    assert "12 in shard 2/3 of 36 found" in first.output and "waiting for shards 0/3, 1/3" in first.output
    part = part_dirs(out, 3)[2]

    def files():  # everything but the lock, which each run stamps with its pid
        return {
            p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in part.iterdir() if p.name != ".sslcli.lock"
        }

    before = files()

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished shard was computed again")

    monkeypatch.setattr(embed_module, "feature_batches", must_not_run)
    again = invoke("embed", "--run", trained_run, "--data", digits_data, "--out", out, "--shard", "2/3")
    assert again.exit_code == 0, again.output
    assert "already complete" in again.output
    assert files() == before and set(before) >= {"embeddings.npy", "index.csv", "embed_state.json"}


def test_shards_of_one_job_write_into_one_out_at_once(trained_run, digits_data, unsharded, tmp_path):
    out, errors = tmp_path / "out", []

    def shard(index):
        try:
            run_embed(trained_run, digits_data, out, shard=Shard(index, 3))
        except BaseException as err:  # reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=shard, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert json.loads((out / "manifest.json").read_text())["rows"] == 36
    joined = concatenated(out, 3)
    np.testing.assert_array_equal(joined.vectors, unsharded.vectors)
    assert joined.ids == unsharded.ids


def test_a_shard_in_use_is_refused(trained_run, digits_data, tmp_path):
    out = tmp_path / "out"
    with exclusive(part_dirs(out, 3)[0], "test holder"):
        line = one_error_line(
            invoke("embed", "--run", trained_run, "--data", digits_data, "--out", out, "--shard", "0/3")
        )
    assert "part-0-of-3" in line and "in use" in line


def test_a_shard_of_another_job_is_refused(trained_run, digits_data, tmp_path):
    out = tmp_path / "out"
    run_embed(trained_run, digits_data, out, shard="0/3")

    def refused(*extra):
        args = ("embed", "--run", trained_run, "--data", digits_data, "--out", out, *extra)
        return one_error_line(invoke(*args))

    assert "3 shards, not 2" in refused("--shard", "1/2")
    assert "holds a sharded embed job (3 shards)" in refused()  # unsharded into a sharded OUT
    assert "holds npy embeddings" in refused("--shard", "1/3", "--format", "parquet")
    line = one_error_line(
        invoke("embed", "--run", trained_run, "--data", digits_data / "0", "--out", out, "--shard", "1/3")
    )
    assert "another encoder or data set" in line
    assert sorted(p.name for p in (out / "parts").iterdir()) == ["part-0-of-3"]  # nothing else started
    flat = tmp_path / "flat"
    run_embed(trained_run, digits_data, flat)
    assert "holds an unsharded embed job" in one_error_line(
        invoke("embed", "--run", trained_run, "--data", digits_data, "--out", flat, "--shard", "0/2")
    )


@pytest.mark.parametrize("text", ["3/3", "-1/2", "1/0", "a/b", "1", "1/2/3"])
def test_a_bad_shard_flag_is_one_line(trained_run, digits_data, tmp_path, text):
    line = one_error_line(
        invoke("embed", "--run", trained_run, "--data", digits_data, "--out", tmp_path / "o", "--shard", text)
    )
    assert "--shard" in line
    assert not (tmp_path / "o").exists()


def test_torchrun_environment_picks_the_shard(trained_run, digits_data, unsharded, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    # --run-dir: torchrun's own argument parser would take --run as an abbreviation of its --run-path
    result = invoke("embed", "--run-dir", trained_run, "--data", digits_data, "--out", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "12 in shard 1/3 of 36 found" in result.output
    assert sorted(p.name for p in (out / "parts").iterdir()) == ["part-1-of-3"]
    part = read_flat(part_dirs(out, 3)[1])
    assert part.ids == unsharded.ids[12:24]
    line = one_error_line(
        invoke("embed", "--run", trained_run, "--data", digits_data, "--out", out, "--shard", "0/3")
    )
    assert "disagrees with torchrun" in line


def test_a_shard_beyond_the_items_writes_an_empty_part(trained_run, digits_data, tmp_path):
    out = tmp_path / "out"
    result = run_embed(trained_run, digits_data, out, shard="0/40")  # 36 items: shard 0 of 40 is empty
    assert result.rows == 0 and result.shard_items == 0
    part = part_dirs(out, 40)[0]
    assert np.load(part / "embeddings.npy").shape == (0, 512)
    assert read_index(part / "index.csv") == []


def test_bad_torchrun_environment_is_a_user_error(trained_run, digits_data, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(UserError, match="RANK=2 is not within WORLD_SIZE=2"):
        run_embed(trained_run, digits_data, tmp_path / "out")
