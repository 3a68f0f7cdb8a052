"""--time-budget: durations parse, the plan is the most whole epochs that fit the budget's safe share
by the measured step time, the first epoch after the plan is timed whole and the epochs left planned
again from it (and from later stretches of epochs, so that slow first epochs leave no budget unused),
and a run planned with a simulated clock trains exactly those epochs, within the budget, and records
the plan (no wall-clock time is measured here)."""

from __future__ import annotations

import json
import math

import pytest
from rich.console import Console

from sslcli.config import PretrainConfig
from sslcli.engine.launch import pretrain
from sslcli.engine.run_setup import PreparedRun
from sslcli.engine.time_budget import (
    SAFETY,
    TIMED_STEPS,
    WARM_STEPS,
    check_epochs,
    parse_duration,
    plan_epochs,
)
from sslcli.engine.trainer import Trainer
from tests.conftest import invoke, write_digit_folder


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("1h30m", 5400), ("15", 900), ("2.5m", 150)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "15x", "m"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("budget", "spent", "step", "per_epoch"), [(900, 30, 0.5, 20), (60, 5, 0.2, 7), (100, 10, 1.0, 3)]
)
def test_the_plan_is_the_most_epochs_that_fit(budget, spent, step, per_epoch):
    plan = plan_epochs(budget, spent, step, per_epoch)
    assert spent + plan.epochs * per_epoch * step <= SAFETY * budget
    assert spent + (plan.epochs + 1) * per_epoch * step > SAFETY * budget and plan.fits


def test_a_budget_shorter_than_an_epoch_still_trains_one_and_says_so():
    plan = plan_epochs(budget_s=10, spent_s=2, step_s=1.0, steps_per_epoch=50)
    assert plan.epochs == 1 and not plan.fits


@pytest.mark.parametrize(("done", "spent", "epoch_s"), [(2, 30.0, 12.0), (3, 100.0, 0.7), (2, 900.0, 5.0)])
def test_the_check_plans_the_most_epochs_whose_rest_fits(done, spent, epoch_s):
    plan = plan_epochs(budget_s=1000, spent_s=10, step_s=0.1, steps_per_epoch=20)
    checked = check_epochs(plan, done, spent, epoch_s)
    left = checked.epochs - done
    assert left >= 0 and spent + left * epoch_s <= SAFETY * 1000
    assert left == 0 and spent >= SAFETY * 1000 or spent + (left + 1) * epoch_s > SAFETY * 1000
    assert checked.fits and checked.checked_epoch == done and checked.epoch_s == epoch_s


class SimulatedTime:
    """A clock for a budgeted run: an optimizer step takes ``step_s``, a checkpoint ``save_s``; nothing
    else takes time. ``run`` wraps the trainer's step and save to advance it."""

    def __init__(self, step_s: float, save_s: float, slow_steps: int = 0, slow_step_s: float = 0.0):
        self.step_s, self.save_s, self.now = step_s, save_s, 0.0
        self.slow_steps, self.slow_step_s = slow_steps, slow_step_s  # the first steps' time

    def __call__(self) -> float:
        return self.now

    def run(self, monkeypatch) -> None:
        step, save = Trainer._optimizer_step, PreparedRun.save

        def timed_step(trainer, lr):
            step(trainer, lr)
            self.now += self.slow_step_s if trainer.run.state.step <= self.slow_steps else self.step_s

        def timed_save(run):
            save(run)
            self.now += self.save_s

        monkeypatch.setattr(Trainer, "_optimizer_step", timed_step)
        monkeypatch.setattr(PreparedRun, "save", timed_save)


def budgeted_run(tmp_path, budget: float) -> PretrainConfig:
    data = write_digit_folder(tmp_path / "digits", per_class=16)  # 48 items: 6 steps of 8 an epoch
    return PretrainConfig(
        data=str(data), out=str(tmp_path / "run"), batch_size=8, input_size=16, backbone="resnet10",
        num_workers=0, device="cpu", time_budget_s=budget,
    )  # fmt: skip


def test_a_budgeted_run_trains_the_planned_epochs_and_records_the_plan(tmp_path, monkeypatch):
    step_s, budget = 0.25, 8.0
    clock = SimulatedTime(step_s, save_s=0.0)
    clock.run(monkeypatch)
    result = pretrain(budgeted_run(tmp_path, budget), None, Console(quiet=True), clock=clock)
    # the plan comes at the end of the warmup (one epoch of 6 steps here, at least WARM_STEPS +
    # TIMED_STEPS); the second epoch, timed whole, ends 12 steps in and plans the rest, and the third,
    # past half the budget, plans it once more (the same at a constant step time)
    assert max(WARM_STEPS + TIMED_STEPS, 6) == 6
    planned = math.floor((SAFETY * budget - 6 * step_s) / (6 * step_s))
    expected = 2 + math.floor((SAFETY * budget - 12 * step_s) / (6 * step_s))
    assert result.budget.epochs == expected == result.state.epoch and expected > planned
    assert result.state.step == expected * 6 and result.budget.step_s == pytest.approx(step_s)
    assert clock.now <= SAFETY * budget < clock.now + 6 * step_s
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["config"]["epochs"] == expected and saved["config"]["time_budget_s"] == budget
    assert saved["time_budget"]["epochs"] == expected and saved["time_budget"]["fits"]
    assert saved["time_budget"]["checked_epoch"] == 3 and saved["time_budget"]["epoch_s"] == 6 * step_s


def test_time_between_steps_is_counted_and_the_run_ends_within_its_budget(tmp_path, monkeypatch):
    step_s, save_s, budget = 0.25, 1.5, 12.0  # each epoch's checkpoint costs as much as its 6 steps
    clock = SimulatedTime(step_s, save_s)
    clock.run(monkeypatch)
    result = pretrain(budgeted_run(tmp_path, budget), None, Console(quiet=True), clock=clock)
    epoch_s = 6 * step_s + save_s
    planned = math.floor((SAFETY * budget - 6 * step_s) / (6 * step_s))  # by the step time alone
    expected = 2 + math.floor((SAFETY * budget - 2 * epoch_s) / epoch_s)
    assert result.state.epoch == result.budget.epochs == expected < planned
    assert planned * epoch_s > budget  # the plan by step times alone would overrun the budget
    assert clock.now <= SAFETY * budget  # every step and checkpoint, within the safe share


def test_slow_first_epochs_leave_no_budget_unused(tmp_path, monkeypatch):
    step_s, budget = 0.25, 30.0  # 6 steps an epoch: 1.5 s, but the first 2 epochs take 6 s each
    clock = SimulatedTime(step_s, save_s=0.0, slow_steps=12, slow_step_s=1.0)
    clock.run(monkeypatch)
    result = pretrain(budgeted_run(tmp_path, budget), None, Console(quiet=True), clock=clock)
    # the plan (step 6) and the check of epoch 2 see only slow steps: 4 epochs, 15 s of the 27
    assert result.state.epoch == result.budget.epochs == 2 + math.floor((SAFETY * budget - 12) / 1.5)
    assert SAFETY * budget - 6 * step_s < clock.now <= SAFETY * budget


def test_epochs_and_a_budget_together_are_one_line(tmp_path):
    result = invoke("pretrain", "--out", tmp_path / "run", "--epochs", "2", "--time-budget", "5m")
    assert result.exit_code == 1 and "pass --epochs or --time-budget, not both" in result.output
    result = invoke("pretrain", "--out", tmp_path / "run", "--time-budget", "soon")
    assert result.exit_code == 1 and "--time-budget: 'soon' is not a duration" in result.output
    assert not (tmp_path / "run").exists()


def test_a_fast_step_never_plans_more_than_the_most_epochs():
    from sslcli.config import MAX_EPOCHS, MAX_TIME_BUDGET_S

    for step_s in (1e-9, 1e-320):  # 1e-320: the epochs that fit overflow a float
        plan = plan_epochs(MAX_TIME_BUDGET_S, spent_s=0.0, step_s=step_s, steps_per_epoch=1)
        assert plan.epochs == MAX_EPOCHS and plan.fits


def test_a_budget_past_the_longest_is_refused():
    with pytest.raises(ValueError, match="longest"):
        parse_duration("999999h")
