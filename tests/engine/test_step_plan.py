"""Under --time-budget the batch leaves the budget enough optimizer steps: the recipe's batch is halved
until the measured cost of an item fits TARGET_STEPS steps (not below MIN_PLANNED_BATCH), the lr follows
the batch, and warmup is a share of the planned steps."""

from __future__ import annotations

import contextlib
import json

import pytest
import torch

from sslcli.engine.schedule import WARMUP_SHARE, warmup_steps
from sslcli.engine.step_plan import (
    MIN_PLANNED_BATCH,
    TARGET_STEPS,
    budget_steps,
    compute_seconds_per_item,
    planned_batch,
    seconds_per_item,
)
from sslcli.engine.time_budget import SAFETY
from tests.conftest import invoke, write_digit_folder


@pytest.mark.parametrize("budget_s", [1.0, 60.0, 600.0, 3600.0, 1e6])
@pytest.mark.parametrize("largest", [8, 48, 256])
def test_the_batch_is_the_largest_halving_that_holds_the_target_steps(budget_s, largest):
    item_s = 0.01
    candidates = [largest]
    while candidates[-1] > MIN_PLANNED_BATCH:
        candidates.append(max(MIN_PLANNED_BATCH, candidates[-1] // 2))
    enough = [b for b in candidates if SAFETY * budget_s / (item_s * b) >= TARGET_STEPS]
    assert planned_batch(budget_s, item_s, largest) == (enough[0] if enough else candidates[-1])


def test_budget_steps_is_the_budget_share_over_a_steps_cost():
    assert budget_steps(100.0, 0.02, 50) == pytest.approx(SAFETY * 100.0 / 1.0)


def test_decoding_counts_on_a_cpu_and_overlaps_compute_on_a_gpu():
    assert seconds_per_item(0.2, 0.1, "cpu", workers=4) == pytest.approx(0.3)
    assert seconds_per_item(0.2, 0.1, "cuda", workers=4) == pytest.approx(0.1)  # 4 workers: 0.05 each
    assert seconds_per_item(0.2, 0.1, "cuda", workers=1) == pytest.approx(0.2)


def test_timing_an_item_changes_neither_the_weights_nor_the_random_state():
    torch.manual_seed(3)
    backbone = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4), torch.nn.Dropout(0.5))
    before = [p.detach().clone() for p in backbone.parameters()]
    views = [{"image": torch.randn(4, 3, 2, 2)}, {"image": torch.randn(4, 3, 2, 2)}]
    state = torch.get_rng_state()
    seconds = compute_seconds_per_item(backbone, views, 4, contextlib.nullcontext)
    assert seconds > 0
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a, b) for a, b in zip(before, backbone.parameters(), strict=True))
    assert all(p.grad is None for p in backbone.parameters())


def test_warmup_is_a_share_of_the_planned_steps_unless_epochs_are_given():
    assert warmup_steps(None, 10, 1000) == round(WARMUP_SHARE * 1000)
    assert warmup_steps(None, 10, 3) == 1
    assert warmup_steps(2.0, 10, 1000) == 20


def test_a_short_budget_lowers_the_batch_and_scales_the_lr(tmp_path):
    data = write_digit_folder(tmp_path / "data", per_class=30)  # 90 items
    run = tmp_path / "run"
    flags = ["--backbone", "resnet18", "--input-size", "16", "--num-workers", "0", "--device", "cpu"]
    result = invoke(
        "pretrain", "--data", data, "--out", run, *flags, "--time-budget", "2s", "--logger", "none"
    )
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["batch_size"] == MIN_PLANNED_BATCH  # 2 s hold far fewer than TARGET_STEPS of anything
    assert config["lr"] == pytest.approx(1e-3 * MIN_PLANNED_BATCH / 256)  # the generic rule's lr, scaled
    assert f"batch {MIN_PLANNED_BATCH} about" in " ".join(result.output.split())
