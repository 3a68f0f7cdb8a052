"""TensorBoard event files in RUN_DIR/tb/, read back with TensorBoard's own reader and compared with
metrics.csv (an independent record of the same steps) and the PNGs in plots/."""

from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path

import pytest
from PIL import Image
from rich.console import Console
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from sslcli.config import PretrainConfig
from sslcli.engine.launch import pretrain
from sslcli.methods.simclr import SimCLR
from sslcli.metrics_csv import read_metrics
from sslcli.tracking.tensorboard_logger import TensorBoardLogger
from tests.conftest import FAST_PRETRAIN, invoke

EVAL_PLOTS = ("embedding_map", "label_efficiency")  # drawn by eval, which other tests run on trained_run


def events(run_dir: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def assert_scalars_match_csv(run_dir: Path) -> None:
    """Every metrics.csv column but ``step`` is the scalar ``train/<column>`` at the same steps."""
    rows, logged = read_metrics(run_dir / "metrics.csv"), events(run_dir)
    assert rows
    for column in rows[0]:
        if column == "step":
            continue
        scalars = logged.Scalars(f"train/{column}")
        assert [s.step for s in scalars] == [int(row["step"]) for row in rows], column
        for scalar, row in zip(scalars, rows, strict=True):
            expected = row[column]
            assert (math.isnan(scalar.value) and math.isnan(expected)) or scalar.value == pytest.approx(
                expected, rel=1e-6, abs=1e-30
            ), column


class Killed(Exception):
    pass


def tiny_config(data, out, **extra) -> PretrainConfig:
    values = dict(
        data=str(data), out=str(out), epochs=2, batch_size=8, input_size=16, num_workers=0, device="cpu",
        checkpoint_every=100, log_every=1, seed=3, backbone="resnet18",
    )  # fmt: skip
    return PretrainConfig(**{**values, **extra})


def test_every_metrics_csv_column_is_a_scalar_at_the_same_steps(trained_run):
    assert_scalars_match_csv(trained_run)


def test_the_plots_pretrain_drew_are_images_at_the_last_step(trained_run):
    logged, last = events(trained_run), int(read_metrics(trained_run / "metrics.csv")[-1]["step"])
    drawn = [p for p in (trained_run / "plots").glob("*.png") if p.stem not in EVAL_PLOTS]
    assert any(p.stem == "loss" for p in drawn)
    for path in drawn:
        (image,) = logged.Images(f"plots/{path.stem}")
        with Image.open(path) as png:
            assert (image.width, image.height) == png.size
        assert image.step == last


def test_eval_adds_its_accuracies_and_figures(trained_run, tmp_path):
    run = shutil.copytree(trained_run, tmp_path / "run")
    result = invoke("eval", "--run", run, "--data", trained_run.parent / "data", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads((run / "eval.json").read_text())
    logged, last = events(run), int(read_metrics(run / "metrics.csv")[-1]["step"])
    for which in ("pretrained", "random_init", "raw_input"):
        for protocol in ("knn", "linear"):
            scalar = logged.Scalars(f"eval/{protocol}/{which}")[-1]  # the shared run may be evaluated before
            assert scalar.step == last and scalar.value == pytest.approx(report[which][protocol], abs=1e-6)
    for tag, key in (
        ("eval/embedding_map", "embedding_map"),
        ("eval/label_efficiency", "label_efficiency_plot"),
    ):
        image = logged.Images(tag)[-1]
        with Image.open(report[key]) as picture:
            assert (image.width, image.height) == picture.size and image.step == last
    assert_scalars_match_csv(run)  # the training scalars are untouched


def test_a_resumed_run_has_each_step_once(digit_folder, tmp_path, monkeypatch):
    """Killed in epoch 2 after steps 5 and 6 were logged, resumed from the step-4 checkpoint: the
    reader sees steps 1..8 once each, with the values metrics.csv kept."""
    config, calls, original = tiny_config(digit_folder, tmp_path / "run"), {"n": 0}, SimCLR.forward

    def killed_at_batch_7(self, views, ctx):
        calls["n"] += 1
        if calls["n"] == 7:
            raise Killed
        return original(self, views, ctx)

    monkeypatch.setattr(SimCLR, "forward", killed_at_batch_7)
    with pytest.raises(Killed):
        pretrain(config, False, Console(quiet=True))
    monkeypatch.setattr(SimCLR, "forward", original)
    (first,) = (tmp_path / "run" / "tb").glob("events.*")
    first_steps = {e.step for e in EventFileLoader(str(first)).Load() if e.summary.value}
    assert {5, 6} <= first_steps  # the interrupted process logged past its checkpoint
    pretrain(config, True, Console(quiet=True))
    assert [int(row["step"]) for row in read_metrics(tmp_path / "run" / "metrics.csv")] == list(range(1, 9))
    assert_scalars_match_csv(tmp_path / "run")


def test_logger_none_writes_no_event_files(digit_folder, tmp_path):
    result = invoke(
        "pretrain", "--data", digit_folder, "--out", tmp_path / "run", *FAST_PRETRAIN, "--logger", "none"
    )
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "run" / "tb").exists()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["logger"] == []


def test_a_tracker_failing_mid_run_is_one_line_and_the_run_finishes(digit_folder, tmp_path, monkeypatch):
    def broken(self, step, values):
        raise OSError("event file gone\nsecond line")

    monkeypatch.setattr(TensorBoardLogger, "log_metrics", broken)
    shown = io.StringIO()
    pretrain(tiny_config(digit_folder, tmp_path / "run", epochs=1), False, Console(file=shown, width=300))
    warnings = [line for line in shown.getvalue().splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: tensorboard logger failed at step 1 (OSError: event file gone); it is off now"
    ]
    assert (tmp_path / "run" / "encoder.safetensors").is_file()
    assert len(read_metrics(tmp_path / "run" / "metrics.csv")) == 4  # metrics.csv goes on
