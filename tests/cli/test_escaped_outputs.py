"""A file name with control characters reaches no output file raw: ``skipped.csv`` of pretrain and
embed, and embed's ``index.csv``, hold it escaped as the terminal shows it."""

from __future__ import annotations

import shutil

from tests.conftest import FAST_PRETRAIN, invoke

BAD = "a\nError: spoofed\x1b[2J.png"
ESCAPED = "a\\nError: spoofed\\x1b[2J.png"


def test_pretrain_and_embed_write_control_characters_in_names_escaped(digit_folder, trained_run, tmp_path):
    (digit_folder / "0" / BAD).write_text("not an image\n")
    shutil.copy(next((digit_folder / "1").iterdir()), digit_folder / "1" / BAD)  # a good image
    run, out = tmp_path / "run", tmp_path / "emb"
    skip = ("--on-error", "skip")
    assert invoke("pretrain", "--data", digit_folder, "--out", run, *skip, *FAST_PRETRAIN).exit_code == 0
    embedded = invoke("embed", "--run", trained_run, "--data", digit_folder, "--out", out, *skip)
    assert embedded.exit_code == 0, embedded.output
    for written in (run / "skipped.csv", out / "skipped.csv", out / "index.csv"):
        text = written.read_text()
        assert "\x1b" not in text and ESCAPED in text, (written.name, text)
