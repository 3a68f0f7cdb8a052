"""How long a run trains and at what learning rate: the epochs (under ``--time-budget`` planned from
the first timed steps, then again from stretches of whole epochs), the total and warmup steps of the
warmup + cosine schedule. Every rank follows rank 0's plans."""

from __future__ import annotations

from collections.abc import Callable

from sslcli.distributed import broadcast_json
from sslcli.engine.schedule import warmup_cosine, warmup_steps
from sslcli.engine.time_budget import BudgetPlan, EpochCheck, StepTimer


class RunSchedule:
    """``epochs`` of ``steps_per_epoch`` optimizer steps; ``budget_s`` (a new run under a time
    budget): the epochs are planned as the first steps are timed (``after_step``) and checked at
    epoch ends (``after_epoch``), each returning the new plan when there is one."""

    def __init__(
        self,
        epochs: int,
        steps_per_epoch: int,
        warmup_epochs: float | None,
        budget_s: float | None,
        clock: Callable[[], float],
    ):
        self.steps_per_epoch, self.warmup_epochs, self.budget_s = steps_per_epoch, warmup_epochs, budget_s
        self.budget: BudgetPlan | None = None  # the plan followed, once there is one
        self._set_epochs(epochs)
        self.step_timer = StepTimer(clock, steps_per_epoch, self.warmup) if budget_s is not None else None
        self.epoch_check: EpochCheck | None = None  # set by the plan: times stretches of epochs whole

    def _set_epochs(self, epochs: int) -> None:
        self.epochs = epochs
        self.total_steps = self.steps_per_epoch * epochs
        self.warmup = warmup_steps(self.warmup_epochs, self.steps_per_epoch, self.total_steps)

    @property
    def planning(self) -> bool:
        """The epochs are still to be planned from timed steps."""
        return self.step_timer is not None

    def lr(self, step: int, base_lr: float) -> float:
        return warmup_cosine(step, self.total_steps, self.warmup, base_lr)

    def after_step(self) -> BudgetPlan | None:
        """After an optimizer step: the budget's first plan once enough steps are timed."""
        if self.step_timer is None or not self.step_timer.step_done():
            return None
        plan = self.step_timer.plan(self.budget_s, self.steps_per_epoch)
        self.epoch_check = EpochCheck(self.step_timer.clock, self.step_timer.started)
        self.step_timer = None
        return self._follow(plan)

    def epoch_starts(self, epoch: int) -> None:
        if self.epoch_check is not None:
            self.epoch_check.epoch_starts(epoch)

    def after_epoch(self, epochs_done: int) -> BudgetPlan | None:
        """After an epoch: the epochs left planned once more from the stretch just timed, when due."""
        if self.epoch_check is None or not self.epoch_check.due(epochs_done):
            return None
        plan = self._follow(self.epoch_check.check(self.budget, epochs_done))
        self.epoch_check.schedule(plan)  # from the plan every rank follows
        if self.epoch_check.finished:
            self.epoch_check = None
        return plan

    def _follow(self, plan: BudgetPlan) -> BudgetPlan:
        """Rank 0's ``plan`` on every rank; its epochs set the schedule's length."""
        plan = BudgetPlan(**{k: v for k, v in broadcast_json(plan.record()).items() if k != "fits"})
        self.budget = plan
        self._set_epochs(plan.epochs)
        return plan
