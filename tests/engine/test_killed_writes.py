"""A write killed half-way leaves nothing that the next start does not remove, whatever temp files the
writing library made of its own (safetensors' writer makes ``.tmpXXXXXX`` beside its target)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from sslcli.run_dir import clean_temp_files, folder_state

KILLED_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from sslcli.run_dir import atomic_write

    def write(tmp):  # like safetensors' save_file: its own temp file beside the target, then death
        Path(tmp).write_bytes(b"half an encoder")
        (Path(tmp).parent / ".tmpAb12Cd").write_bytes(b"x" * 4096)
        os.kill(os.getpid(), signal.SIGKILL)

    atomic_write(Path(sys.argv[1]) / "encoder.safetensors", write)
    """
)


def test_a_writer_killed_mid_write_leaves_only_what_the_next_start_removes(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(run)], check=False)
    assert killed.returncode == -9
    assert any(run.rglob(".tmpAb12Cd"))  # the writer's own temp file is somewhere in the run

    clean_temp_files(run)
    assert sorted(p.name for p in run.rglob("*")) == ["config.json"]
    assert folder_state(run) == "partial"  # the same command starts it again


def test_temp_files_of_safetensors_writes_by_earlier_versions_are_removed(tmp_path):
    (tmp_path / ".tmpZ9y8X7").write_bytes(b"21 MB of a killed save_file")
    (tmp_path / ".tmp_notes").write_text("not a safetensors temp name: kept")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / ".last.pt.k1ll3d.partial").write_bytes(b"half a checkpoint")
    clean_temp_files(tmp_path)
    assert sorted(p.name for p in tmp_path.rglob("*")) == [".tmp_notes", "checkpoints"]
