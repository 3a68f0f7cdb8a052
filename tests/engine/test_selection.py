"""--select: the weights kept as encoder.safetensors are the best scored by the label-free criterion,
the last weights are kept beside them, and --select last scores nothing."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from safetensors.torch import load_file

from sslcli.engine.selection import (
    MIN_SCORED_ITEMS,
    SCORED_ITEMS,
    SCORING_POINTS,
    SCORING_SHARE,
    Selection,
    scored_count,
    scored_subset,
    scoring_epochs,
)
from sslcli.engine.train_state import TrainState
from sslcli.scoring.label_free import rankme
from tests.conftest import FAST_PRETRAIN, invoke, write_digit_folder


@pytest.mark.parametrize("epochs", [1, 3, SCORING_POINTS, SCORING_POINTS + 1, 40, 100_000])
def test_scoring_points_are_few_spread_and_end_at_the_last_epoch(epochs):
    points = sorted(scoring_epochs(epochs))
    assert points[-1] == epochs and points[0] >= 1
    assert len(points) == min(epochs, SCORING_POINTS)
    gaps = [b - a for a, b in zip([0, *points], points, strict=False)]
    assert max(gaps) - min(gaps) <= 1  # evenly spread


@pytest.mark.parametrize("count", [3, SCORED_ITEMS, SCORED_ITEMS + 1, 5000])
def test_the_scored_subset_is_at_most_the_limit_and_spans_the_items(count):
    subset = scored_subset(list(range(count)))
    assert len(subset) <= SCORED_ITEMS and subset[0] == 0
    assert subset == sorted(set(subset)) and subset[-1] >= count - math.ceil(count / SCORED_ITEMS)


def spread(rank: int, rows: int = 64, dims: int = 16) -> torch.Tensor:
    """Embeddings using ``rank`` directions equally: RankMe about ``rank``."""
    return torch.linalg.qr(torch.randn(rows, dims, generator=torch.Generator().manual_seed(rank)))[0][
        :, :rank
    ]


def test_the_best_scored_weights_become_the_encoder_and_the_last_are_kept(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    selection, state = Selection("rankme", tmp_path), TrainState()
    backbone = torch.nn.Linear(3, 2)
    kept_weights = None
    for epoch, rank in enumerate([2, 6, 4]):  # the second epoch's embeddings use the most directions
        state.epoch, state.step = epoch, 10 * (epoch + 1)
        with torch.no_grad():
            backbone.weight.fill_(epoch)
        scores = selection.consider(state, spread(rank), None, backbone, {"backbone": "linear"})
        assert scores["rankme"] == pytest.approx(rankme(spread(rank)))
        if rank == 6:
            kept_weights = backbone.weight.detach().clone()
    assert (state.selected_epoch, state.selected_step) == (2, 20)
    assert selection.write_encoders(state, backbone, {"backbone": "linear"}).startswith(
        "encoder.safetensors: the weights after epoch 2 (step 20)"
    )
    assert torch.equal(load_file(tmp_path / "encoder.safetensors")["weight"], kept_weights)
    assert torch.equal(load_file(tmp_path / "encoder_last.safetensors")["weight"], backbone.weight.detach())


def test_select_last_keeps_the_last_weights_and_writes_one_encoder(tmp_path):
    selection, state = Selection("last", tmp_path), TrainState(epoch=3)
    assert not selection.due(4, 4)
    backbone = torch.nn.Linear(3, 2)
    assert selection.write_encoders(state, backbone, {"backbone": "linear"}) is None
    assert sorted(path.name for path in tmp_path.iterdir()) == ["encoder.safetensors"]


def read_rows(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_a_run_keeps_the_epoch_whose_rankme_is_highest(tmp_path):
    data = write_digit_folder(tmp_path / "data", per_class=12)
    run = tmp_path / "run"
    flags = [*FAST_PRETRAIN, "--epochs", "3", "--logger", "none", "--select", "rankme"]
    result = invoke("pretrain", "--data", data, "--out", run, *flags)
    assert result.exit_code == 0, result.output
    scored = [row for row in read_rows(run / "metrics.csv") if row["rankme"] != "nan"]
    assert [int(row["epoch"]) for row in scored] == [0, 1, 2]  # every epoch's last step
    best = max(scored, key=lambda row: float(row["rankme"]))
    with open(run / "encoder.safetensors", "rb") as handle:
        header = json.loads(handle.read(int.from_bytes(handle.read(8), "little")))
    chosen = json.loads(header["__metadata__"]["selection"])
    assert (chosen["epoch"], chosen["step"]) == (int(best["epoch"]) + 1, int(best["step"]))
    assert chosen["score"] == pytest.approx(float(best["rankme"]))
    assert (run / "encoder_last.safetensors").is_file()


def test_by_default_a_run_keeps_its_last_weights_and_scores_nothing(tmp_path):
    data = write_digit_folder(tmp_path / "data", per_class=12)
    run = tmp_path / "run"
    flags = [*FAST_PRETRAIN, "--epochs", "2", "--logger", "none"]
    result = invoke("pretrain", "--data", data, "--out", run, *flags)
    assert result.exit_code == 0, result.output
    assert "rankme" not in read_rows(run / "metrics.csv")[0]  # no score columns
    assert not (run / "encoder_last.safetensors").exists()
    assert not (run / "checkpoints" / "selected.safetensors").exists()


def test_a_budget_affords_fewer_scored_items_when_items_are_dear():
    assert scored_count(None, None) == SCORED_ITEMS
    assert scored_count(3600.0, 1e-4) == SCORED_ITEMS
    dear = scored_count(600.0, 0.05)  # 8 scorings of 60 items would take 24 s = 4% of 600 s
    assert dear == max(MIN_SCORED_ITEMS, int(SCORING_SHARE * 600.0 / (SCORING_POINTS * 0.05)))
    assert scored_count(60.0, 10.0) == MIN_SCORED_ITEMS


def test_scoring_leaves_the_training_unchanged(tmp_path):
    """The last weights of a run that scores (LiDAR draws augmentations) equal those of one that does not."""
    data = write_digit_folder(tmp_path / "data", per_class=12)
    config = tmp_path / "colour_on_device.json"  # batch colour jitter draws from the global generator
    config.write_text(json.dumps({"views": {"augment_on": "device"}}))
    flags = [*FAST_PRETRAIN, "--epochs", "2", "--logger", "none", "--threads", "1", "--config", config]
    for select in ("lidar", "last"):
        result = invoke("pretrain", "--data", data, "--out", tmp_path / select, *flags, "--select", select)
        assert result.exit_code == 0, result.output
    scored = [row for row in read_rows(tmp_path / "lidar" / "metrics.csv") if row["lidar"] != "nan"]
    assert len(scored) == 2 and all(float(row["lidar"]) > 1 for row in scored)
    last = load_file(tmp_path / "lidar" / "encoder_last.safetensors")
    unscored = load_file(tmp_path / "last" / "encoder.safetensors")
    assert last.keys() == unscored.keys() and all(torch.equal(last[k], unscored[k]) for k in last)
