"""Every user error is one line naming the file and the reason; skip mode loses nothing."""

import csv
import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import FAST_PRETRAIN, invoke, one_error_line

BAD_FILES = {"zero.png": "0 bytes", "broken.png": "truncated", "fake.jpg": "not a readable image"}


@pytest.fixture
def folder_with_bad_files(digit_folder):
    noise = np.random.default_rng(0).integers(0, 256, size=(32, 32), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    (digit_folder / "0" / "zero.png").write_bytes(b"")
    (digit_folder / "1" / "broken.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (digit_folder / "7" / "fake.jpg").write_text("not an image\n")
    return digit_folder


def assert_one_line_error(result, *fragments):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    error_lines = [line for line in lines if line.startswith("Error:")]
    assert len(error_lines) == 1, result.output
    for fragment in fragments:
        assert fragment in error_lines[0], error_lines[0]


# Bad files are found by the up-front check (--check-data) or as training meets them: one batch of
# all 39 items meets every file in the first step.
MEET_EVERY_FILE = {"check first": ("--check-data",), "met in training": ("--batch-size", "39")}


@pytest.mark.parametrize("when", MEET_EVERY_FILE.values(), ids=MEET_EVERY_FILE.keys())
def test_pretrain_raise_stops_at_the_first_bad_file(folder_with_bad_files, tmp_path, when):
    run = tmp_path / "run"
    result = invoke("pretrain", "--data", folder_with_bad_files, "--out", run, *FAST_PRETRAIN, *when)
    assert_one_line_error(result, "--on-error skip")
    named = [name for name in BAD_FILES if name in result.output]
    assert len(named) == 1 and BAD_FILES[named[0]] in result.output


@pytest.mark.parametrize("when", MEET_EVERY_FILE.values(), ids=MEET_EVERY_FILE.keys())
def test_pretrain_skip_lists_every_bad_file_and_the_counts_add_up(folder_with_bad_files, tmp_path, when):
    run = tmp_path / "run"
    result = invoke(
        "pretrain", "--data", folder_with_bad_files, "--out", run, "--on-error", "skip", *FAST_PRETRAIN, *when
    )
    assert result.exit_code == 0, result.output
    assert "39 found, 36 used, 3 skipped" in result.output
    with (run / "skipped.csv").open() as handle:
        rows = {row["item_id"].split("/")[-1]: row["reason"] for row in csv.DictReader(handle)}
    assert rows.keys() == BAD_FILES.keys()
    for name, reason in BAD_FILES.items():
        assert reason in rows[name] and name in result.output


def test_embed_skip_counts_add_up(folder_with_bad_files, trained_run, tmp_path):
    out = tmp_path / "emb"
    result = invoke(
        "embed",
        "--run",
        trained_run,
        "--data",
        folder_with_bad_files,
        "--out",
        out,
        "--on-error",
        "skip",
        "--num-workers",
        "0",
    )
    assert result.exit_code == 0, result.output
    embedded = np.load(out / "embeddings.npy").shape[0]
    with (out / "skipped.csv").open() as handle:
        skipped = [row["item_id"] for row in csv.DictReader(handle)]
    assert embedded == 36 and len(skipped) == 3 and embedded + len(skipped) == 39
    assert "39 found, 36 embedded, 3 skipped" in result.output


def test_embed_raise_names_the_file(folder_with_bad_files, trained_run, tmp_path):
    result = invoke(
        "embed",
        "--run",
        trained_run,
        "--data",
        folder_with_bad_files,
        "--out",
        tmp_path / "e",
        "--num-workers",
        "0",
    )
    assert_one_line_error(result, "zero.png", "0 bytes")  # first bad file in sorted order is 0/zero.png


def test_eval_skip_reports_skipped_files(folder_with_bad_files, trained_run):
    result = invoke(
        "eval", "--run", trained_run, "--data", folder_with_bad_files, "--on-error", "skip", "--json"
    )
    assert result.exit_code == 0, result.output
    assert '"skipped": 3' in result.stdout


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(
        invoke("pretrain", "--data", tmp_path / "empty", "--out", tmp_path / "r"),
        "empty",
        "no natural files found",
    )


def test_missing_path(tmp_path):
    assert_one_line_error(
        invoke("pretrain", "--data", tmp_path / "nope", "--out", tmp_path / "r"),
        "nope",
        "no such file or directory",
    )


def test_unknown_method_lists_the_valid_ones(digit_folder, tmp_path):
    assert_one_line_error(
        invoke("pretrain", "--method", "simclear", "--data", digit_folder, "--out", tmp_path / "r"),
        "unknown method 'simclear'",
        "simclr",
    )


def test_unknown_domain_lists_the_valid_ones(digit_folder, tmp_path):
    assert_one_line_error(
        invoke("pretrain", "--domain", "xray", "--data", digit_folder, "--out", tmp_path / "r"),
        "unknown domain 'xray'",
        "natural",
    )


def test_unreadable_run_directories(tmp_path, trained_run):
    assert_one_line_error(invoke("eval", "--run", tmp_path / "missing"), "run directory not found")
    (tmp_path / "not_a_run").mkdir()
    assert_one_line_error(
        invoke("embed", "--run", tmp_path / "not_a_run", "--data", tmp_path, "--out", tmp_path / "o"),
        "not a run directory",
    )
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((trained_run / "config.json").read_text())
    (broken / "encoder.safetensors").write_bytes(b"\x00" * 50)
    assert_one_line_error(invoke("eval", "--run", broken), "unreadable encoder")


def test_corrupt_checkpoint_on_resume(digit_folder, tmp_path):
    run = tmp_path / "run"
    assert invoke("pretrain", "--data", digit_folder, "--out", run, *FAST_PRETRAIN).exit_code == 0
    (run / "checkpoints" / "last.pt").write_bytes(b"garbage")
    assert_one_line_error(invoke("pretrain", "--out", run, "--resume"), "unreadable checkpoint")


def test_bad_config_file(tmp_path):
    config = tmp_path / "c.json"
    config.write_text('{"epochz": 3}')
    assert_one_line_error(
        invoke("pretrain", "--config", config, "--out", tmp_path / "r"), "unknown config key", "epochz"
    )


def test_resume_says_which_options_it_ignores(digit_folder, tmp_path):
    run = tmp_path / "run"
    assert invoke("pretrain", "--data", digit_folder, "--out", run, *FAST_PRETRAIN).exit_code == 0
    result = invoke("pretrain", "--out", run, "--resume", "--epochs", "2", "--seed", "9")
    assert result.exit_code == 0, result.output
    assert "ignoring seed" in result.output  # --epochs may change on resume; the seed may not


@pytest.mark.parametrize("rank", [0, 1])
def test_under_torchrun_only_rank_0_prints_the_resume_note(digit_folder, tmp_path, monkeypatch, rank):
    run = tmp_path / "run"
    assert invoke("pretrain", "--data", digit_folder, "--out", run, *FAST_PRETRAIN).exit_code == 0
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("WORLD_SIZE", "2")  # no MASTER_ADDR: the group is never joined, after the note
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    result = invoke("pretrain", "--out", run, "--resume", "--seed", "9")
    assert "MASTER_ADDR" in one_error_line(result)
    assert ("ignoring seed" in result.output) == (rank == 0)


def test_resume_of_a_folder_without_a_run(tmp_path):
    assert_one_line_error(invoke("pretrain", "--out", tmp_path / "none", "--resume"), "nothing to resume")


def test_a_control_character_in_a_file_name_cannot_split_the_error_line(digit_folder, tmp_path):
    (digit_folder / "0" / "a\nError: spoofed\x1b[2J.png").write_text("not an image\n")
    result = invoke("pretrain", "--data", digit_folder, "--out", tmp_path / "run", *FAST_PRETRAIN)
    assert_one_line_error(result, "a\\nError: spoofed\\x1b[2J.png", "not a readable image")
    skipped = invoke(
        "pretrain", "--data", digit_folder, "--out", tmp_path / "r2", "--on-error", "skip", *FAST_PRETRAIN
    )
    assert skipped.exit_code == 0, skipped.output
    assert "a\\nError: spoofed\\x1b[2J.png" in skipped.output and "\x1b" not in skipped.output
