"""The memory plan: what autograd keeps is counted exactly, a recipe's batch that does not fit becomes
micro-batches with accumulation, and a batch the user asked for that cannot fit is refused in one line
before the run directory exists."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from sslcli.engine import batch_fit as batch_fit_module
from sslcli.engine.memory_plan import (
    USABLE_SHARE,
    WORKER_BYTES,
    MemoryPlan,
    plan_memory,
    saved_activation_bytes,
)
from tests.conftest import FAST_PRETRAIN, invoke, one_error_line


def test_saved_activations_are_counted_once_per_storage():
    net = torch.nn.Sequential(torch.nn.Linear(1000, 500), torch.nn.ReLU())
    x = torch.randn(8, 1000)
    # Linear keeps its input (for the weight's gradient), ReLU its output: 8 x (1000 + 500) floats
    assert saved_activation_bytes(lambda: net(x)) == 8 * (1000 + 500) * 4
    y = torch.randn(8, 1000, requires_grad=True)
    # y * y keeps y twice (the same storage), the view's product keeps y's storage again
    assert (
        saved_activation_bytes(lambda: (y * y).sum() + (y[:4] * 2).exp().sum()) == 8 * 1000 * 4 + 4 * 1000 * 4
    )


def test_the_plan_adds_the_loader_batches_and_workers():
    free = 10 * WORKER_BYTES
    plan = plan_memory(
        saved_bytes=4 * 100, probe_items=4, input_bytes=4 * 10, model_bytes=1000, workers=2,
        free=free, device=torch.device("cpu"),
    )  # fmt: skip
    # per item: 100 saved + 10 input in the step's batch and in 2 workers x 4 prefetched batches
    assert plan.per_item_bytes == 100 + 10 * (1 + 2 * 4)
    assert plan.fixed_bytes == 1000 + 2 * WORKER_BYTES
    assert plan.largest_batch() == int((free * USABLE_SHARE - plan.fixed_bytes) // plan.per_item_bytes)


def squeeze_memory_to(monkeypatch, items: float, share: float = USABLE_SHARE) -> None:
    """Make ``share`` of the machine's free memory what ``items`` items of the measured step need."""
    real = batch_fit_module.plan_memory

    def squeezed(*args, **kwargs) -> MemoryPlan:
        plan = real(*args, **kwargs)
        free = (plan.fixed_bytes + plan.per_item_bytes * items) / share
        return dataclasses.replace(plan, free_bytes=int(free))

    monkeypatch.setattr(batch_fit_module, "plan_memory", squeezed)


def recipe_flags() -> list[str]:
    """FAST_PRETRAIN without its batch size: the batch is the recipe's (lowered to the folder's)."""
    i = FAST_PRETRAIN.index("--batch-size")
    return FAST_PRETRAIN[:i] + FAST_PRETRAIN[i + 2 :]


@pytest.mark.parametrize(("items", "split"), [(3.5, (3, 12)), (5.5, (4, 8))])
def test_a_recipe_batch_that_does_not_fit_trains_as_micro_batches(
    digit_folder, tmp_path, monkeypatch, items, split
):
    squeeze_memory_to(monkeypatch, items)
    run = tmp_path / "run"
    result = invoke("pretrain", "--data", digit_folder, "--out", run, *recipe_flags())
    assert result.exit_code == 0, result.output
    record = json.loads((run / "config.json").read_text())
    config, memory = record["config"], record["memory"]
    assert memory["device"] == "CPU" and memory["per_item_mib"] > 0  # the plan, as config.json keeps it
    # the folder's 36 items a step (the batch lowered to them), in parts of at most `items`; where 36
    # does not divide, a little fewer, never more than the folder holds
    assert (config["batch_size"], config["accumulate"]) == split
    assert "memory: batch 36 needs about" in result.output
    assert f"batch {split[0]} x accumulate {split[1]} instead ({split[0] * split[1]} items" in result.output


@pytest.mark.parametrize("items", [3.5, 0.0])
def test_a_chosen_batch_that_cannot_fit_is_refused_before_the_run_exists(
    digit_folder, tmp_path, monkeypatch, items
):
    squeeze_memory_to(monkeypatch, items, share=1.0)  # all the free memory holds `items` items
    run = tmp_path / "run"
    error = one_error_line(invoke("pretrain", "--data", digit_folder, "--out", run, *FAST_PRETRAIN))
    assert "batch 8 needs about" in error and "GiB free" in error
    assert ("--batch-size 3 or less" if items else "a smaller --input-size") in error
    assert not run.exists()
