"""A run directory always recovers: resume follows --out, a run that dies before its first checkpoint
starts again, two processes never share a folder, and resume checks what it continues on."""

from __future__ import annotations

import errno
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sslcli.engine.checkpoint as checkpoint_module
from sslcli.methods.simclr import SimCLR
from sslcli.run_dir import exclusive
from tests.cli.test_bad_input import assert_one_line_error
from tests.conftest import FAST_PRETRAIN, invoke, write_digit_folder
from tests.nan_loss import simclr_loss_nan_at


def pretrain(data, run, *extra):
    return invoke("pretrain", "--data", data, "--out", run, *FAST_PRETRAIN, *extra)


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def saved(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())


@pytest.fixture
def finished_run(digit_folder, tmp_path) -> Path:
    run, config = tmp_path / "run", tmp_path / "log_every_step.json"
    config.write_text(json.dumps({"log_every": 1}))
    result = pretrain(digit_folder, run, "--config", config)
    assert result.exit_code == 0, result.output
    return run


def test_resume_of_a_copied_run_writes_only_the_copy(finished_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(finished_run, copy)
    before = tree_bytes(finished_run)
    result = invoke("pretrain", "--out", copy, "--resume", "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert tree_bytes(finished_run) == before  # the original is neither read for state nor rewritten
    assert saved(copy)["config"]["out"] == str(copy) and saved(copy)["config"]["epochs"] == 2
    assert "epochs / steps" in result.output and "2 / 8" in result.output  # 36 digits / batch 8 = 4 steps


def test_resume_of_a_moved_run(finished_run, tmp_path):
    moved = tmp_path / "moved"
    finished_run.rename(moved)
    result = invoke("pretrain", "--out", moved, "--resume", "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert "2 / 8" in result.output  # continued from the moved checkpoint (step 4), in the new place
    assert saved(moved)["config"]["out"] == str(moved) and saved(moved)["resumes"][0]["at_step"] == 4


def test_resume_honours_and_records_lr_and_epochs(finished_run):
    result = invoke("pretrain", "--out", finished_run, "--resume", "--epochs", "2", "--lr", "1e-5")
    assert result.exit_code == 0, result.output
    record = saved(finished_run)
    assert record["config"]["lr"] == 1e-5 and record["config"]["epochs"] == 2
    (resume,) = record["resumes"]
    assert resume["at_step"] == 4 and any(note.startswith("lr: ") for note in resume["notes"])
    lrs = [float(line.split(",")[3]) for line in (finished_run / "metrics.csv").read_text().splitlines()[1:]]
    assert max(lrs[4:]) <= 1e-5 < max(lrs[:4])  # steps 5-8 ran under the new peak


def test_resume_cannot_shorten_below_the_epochs_done(finished_run):
    invoke("pretrain", "--out", finished_run, "--resume", "--epochs", "2")
    assert_one_line_error(
        invoke("pretrain", "--out", finished_run, "--resume", "--epochs", "1"), "fewer than the 2 epochs"
    )


def test_resume_refuses_a_changed_data_set_unless_allowed(finished_run, digit_folder):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(digit_folder / "0" / "new.png")
    assert_one_line_error(
        invoke("pretrain", "--out", finished_run, "--resume", "--epochs", "2"),
        "data set changed",
        "36 items then, 37 now",
    )
    result = invoke("pretrain", "--out", finished_run, "--resume", "--epochs", "2", "--allow-data-change")
    assert result.exit_code == 0, result.output
    assert saved(finished_run)["data_set"]["items"] == 37


@pytest.mark.parametrize("check_first", [True, False])
def test_a_bad_file_under_raise_then_fixed_runs_with_the_same_command(digit_folder, tmp_path, check_first):
    bad = digit_folder / "1" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    run = tmp_path / "run"
    when = ("--check-data",) if check_first else ("--batch-size", "37")  # one batch meets every file
    assert_one_line_error(pretrain(digit_folder, run, *when), "broken.png")
    assert run.exists() != check_first  # --check-data decodes everything before the directory exists
    bad.unlink()
    result = pretrain(digit_folder, run, *when)
    assert result.exit_code == 0, result.output


def kill_at_first_step(monkeypatch):
    def killed(self, views, ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(SimCLR, "forward", killed)


@pytest.mark.parametrize("again", ["same command", "--resume"])
def test_a_run_killed_before_its_first_checkpoint_can_start_again(digit_folder, tmp_path, monkeypatch, again):
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        kill_at_first_step(patch)
        assert pretrain(digit_folder, run).exit_code == 130
    assert (run / "config.json").is_file() and not (run / "checkpoints" / "last.pt").exists()
    result = (
        pretrain(digit_folder, run)
        if again == "same command"
        else invoke("pretrain", "--out", run, "--resume")
    )
    assert result.exit_code == 0, result.output
    assert "before its first checkpoint" in result.output


def test_bad_method_options_leave_nothing_behind(digit_folder, tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"method_options": {"temperatur": 0.2}}))
    run = tmp_path / "run"
    result = pretrain(digit_folder, run, "--config", config)
    assert_one_line_error(result, "method options", "temperatur")
    assert not run.exists()


def test_disk_full_at_a_checkpoint_keeps_the_last_good_one(finished_run, monkeypatch):
    good = (finished_run / "checkpoints" / "last.pt").read_bytes()
    real_save = checkpoint_module.torch.save

    def full_disk(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"half")  # a partial write, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", full_disk)
    result = invoke("pretrain", "--out", finished_run, "--resume", "--epochs", "2")
    assert_one_line_error(result, "the disk is full", "last.pt")
    assert (finished_run / "checkpoints" / "last.pt").read_bytes() == good
    leftovers = [p.name for p in finished_run.rglob("*") if p.name.startswith(".") and "last.pt" in p.name]
    assert not leftovers
    monkeypatch.setattr(checkpoint_module.torch, "save", real_save)
    result = invoke("pretrain", "--out", finished_run, "--resume", "--epochs", "2")
    assert result.exit_code == 0, result.output


def test_disk_full_while_embedding_names_the_file_and_resumes(trained_run, tmp_path, monkeypatch):
    import sslcli.jobs.npy_stream as npy_stream

    out = tmp_path / "emb"
    data = trained_run.parent / "data"
    original = npy_stream.NpyRowWriter._write_all
    calls = {"n": 0}

    def full_after_two_batches(self, payload):
        calls["n"] += 1
        if calls["n"] > 4 and len(payload) > 128:  # headers still fit; the third batch of rows does not
            self.handle.write(bytes(payload)[:100])
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, payload)

    monkeypatch.setattr(npy_stream.NpyRowWriter, "_write_all", full_after_two_batches)
    args = (
        "embed",
        "--run",
        trained_run,
        "--data",
        data,
        "--out",
        out,
        "--batch-size",
        "8",
        "--num-workers",
        "0",
    )
    assert_one_line_error(invoke(*args), "embeddings.npy", "the disk is full")
    partial = np.load(out / "embeddings.npy")  # still a valid array of whole rows
    assert partial.shape[0] == 16
    monkeypatch.setattr(npy_stream.NpyRowWriter, "_write_all", original)
    assert invoke(*args).exit_code == 0
    whole = tmp_path / "whole"
    assert invoke(*args[:-5], whole, *args[-4:]).exit_code == 0
    np.testing.assert_array_equal(np.load(out / "embeddings.npy"), np.load(whole / "embeddings.npy"))


def test_a_second_process_on_the_same_run_directory_is_refused(digit_folder, tmp_path):
    run = tmp_path / "run"
    with exclusive(run, "run directory"):  # flock: a second open file description conflicts
        assert_one_line_error(pretrain(digit_folder, run), "in use by sslcli pid")


def test_a_second_process_on_the_same_embed_folder_is_refused(trained_run, tmp_path):
    out = tmp_path / "emb"
    with exclusive(out, "embed output folder"):
        result = invoke("embed", "--run", trained_run, "--data", trained_run.parent / "data", "--out", out)
    assert_one_line_error(result, "in use by sslcli pid")


def test_eval_waits_for_a_process_holding_the_run_directory(trained_run):
    with exclusive(trained_run, "run directory"):  # e.g. a pretrain --resume still writing it
        result = invoke(
            "eval", "--run", trained_run, "--data", trained_run.parent / "data", "--folder-labels"
        )
    assert_one_line_error(result, "in use by sslcli pid", "wait for it")


def test_embed_raising_on_its_first_batch_continues_when_run_again(trained_run, tmp_path):
    data = write_digit_folder(tmp_path / "data", per_class=3)
    bad = data / "0" / "aaa.png"
    bad.write_bytes(b"")
    out = tmp_path / "emb"
    args = ("embed", "--run", trained_run, "--data", data, "--out", out, "--num-workers", "0")
    assert_one_line_error(invoke(*args), "aaa.png", "0 bytes")
    bad.unlink()
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert np.load(out / "embeddings.npy").shape[0] == 9


def test_leftover_temp_files_are_removed_at_the_next_start(finished_run):
    leftover = finished_run / "checkpoints" / ".last.pt.k1ll3d.partial"
    leftover.write_bytes(b"half a checkpoint")
    result = invoke("pretrain", "--out", finished_run, "--resume")
    assert result.exit_code == 0, result.output
    assert not leftover.exists()


def test_nan_message_suggests_a_resume_that_works(digit_folder, tmp_path, monkeypatch):
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        simclr_loss_nan_at(patch, call=6)
        result = pretrain(digit_folder, run, "--epochs", "2")
    assert_one_line_error(result, "loss is nan", "--resume --lr")
    suggestion = re.search(r"sslcli (pretrain .*--lr \S+)", result.output).group(1).split()
    resumed = invoke(*suggestion)
    assert resumed.exit_code == 0, resumed.output
    assert saved(run)["config"]["lr"] == float(suggestion[-1])


def test_a_small_folder_lowers_the_batch(tmp_path):
    data = write_digit_folder(tmp_path / "data", classes=(0, 1), per_class=3)
    result = pretrain(data, tmp_path / "run", "--batch-size", "64")
    assert result.exit_code == 0, result.output
    assert "using batch size 6" in result.output
    assert saved(tmp_path / "run")["config"]["batch_size"] == 6


def test_a_single_item_is_refused(tmp_path):
    data = write_digit_folder(tmp_path / "data", classes=(0,), per_class=1)
    assert_one_line_error(pretrain(data, tmp_path / "run"), "1 usable item", "at least 2")
    assert not (tmp_path / "run").exists()


def test_disk_full_when_a_run_starts_leaves_a_folder_the_same_command_restarts(
    digit_folder, tmp_path, monkeypatch
):
    run = tmp_path / "run"
    real_write_text = Path.write_text

    def full_for_config(self, *args, **kwargs):
        if self.parent.name.startswith(".config.json."):  # atomic_write's temp folder
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_for_config)
    assert_one_line_error(pretrain(digit_folder, run), "config.json", "the disk is full")
    monkeypatch.undo()
    result = pretrain(digit_folder, run)
    assert result.exit_code == 0, result.output
