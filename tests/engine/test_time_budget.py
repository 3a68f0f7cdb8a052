"""--time-budget: durations parse, the plan is the most whole epochs that fit the budget's safe share
by the measured step time, and a run planned with an injected clock trains exactly those epochs and
records the plan (no wall-clock time is measured here)."""

from __future__ import annotations

import json
import math

import pytest
from rich.console import Console

from sslcli.config import PretrainConfig
from sslcli.engine.time_budget import SAFETY, TIMED_STEPS, WARM_STEPS, parse_duration, plan_epochs
from sslcli.engine.trainer import pretrain
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


class TickingClock:
    """Each reading is ``tick`` seconds after the previous one."""

    def __init__(self, tick: float):
        self.tick, self.now = tick, 0.0

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_a_budgeted_run_trains_the_planned_epochs_and_records_the_plan(tmp_path):
    data = write_digit_folder(tmp_path / "digits", per_class=16)  # 48 items: 6 steps of 8 an epoch
    tick, budget = 0.25, 20.0
    config = PretrainConfig(
        data=str(data), out=str(tmp_path / "run"), batch_size=8, input_size=16, backbone="resnet10",
        num_workers=0, device="cpu", time_budget_s=budget,
    )  # fmt: skip
    result = pretrain(config, None, Console(quiet=True), clock=TickingClock(tick))
    # the timer reads the clock at its start and at each step's end, a tick apart; the plan comes at the
    # end of the warmup (one epoch of 6 steps here, at least WARM_STEPS + TIMED_STEPS), 6 ticks in
    spent = max(WARM_STEPS + TIMED_STEPS, 6) * tick
    expected = math.floor((SAFETY * budget - spent) / (tick * 6))
    assert result.budget.epochs == expected == result.state.epoch
    assert result.state.step == expected * 6 and result.budget.step_s == pytest.approx(tick)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["config"]["epochs"] == expected and saved["config"]["time_budget_s"] == budget
    assert saved["time_budget"]["epochs"] == expected and saved["time_budget"]["fits"]


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
