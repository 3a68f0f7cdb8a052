"""``--time-budget``: as many epochs as fit the time the user can wait, planned from measured steps.

The first ``WARM_STEPS`` optimizer steps are not timed (memory allocation, loader start-up, kernel
selection); the steps after them, up to the end of the learning-rate warmup but at most one epoch and
at least ``TIMED_STEPS``, give the step time: the longer the stretch, the more of the loader's pauses
it sees. The run then trains for as many whole epochs as fit in ``SAFETY`` of the budget after what
was already spent (setup, data scan, the timed steps), at least one; the rest of the budget covers
the encoder file and the plots. The learning-rate schedule is laid over the planned epochs, so warmup
and cosine decay end where the budget does. The steps timed before the plan are warmup steps, whose
learning rate does not depend on the total.

Step times miss what happens between steps: the checkpoint at each epoch's end, the label-free
scoring, the loader's start. Where epochs are short that is most of the time (the built-in DICOM
sample's 4-step epochs planned up to 147 epochs for 300 s and took 379 s), so the first epoch that
starts after the plan is timed whole, end to end, and the epochs left are planned once more from it
(``EpochCheck``). The first epochs are slower than the rest (loader workers filling their queues,
oneDNN preparing its bf16 kernels: a 4-minute video run timed its second epoch at 5.4 s, ran at
about 2.5 s an epoch, and ended after half its budget), so the stretches of epochs from there to
where ``RECHECK_SHARES`` of the budget are spent are timed as well and plan the rest again; they come
early enough that the cosine schedule laid over the new length changes little.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace

from sslcli.config import MAX_EPOCHS, MAX_TIME_BUDGET_S

WARM_STEPS = 2
TIMED_STEPS = 3
SAFETY = 0.9
RECHECK_SHARES = (0.25, 0.5)  # of the budget: where later stretches end and plan again

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``15m``, ``1h30m`` or a bare number of minutes (``15``), more than none and
    at most ``MAX_TIME_BUDGET_S``; ValueError otherwise."""
    seconds = _seconds(text.strip().lower())
    if seconds == 0:
        raise ValueError(f"{text!r} is no time")
    if seconds > MAX_TIME_BUDGET_S:
        raise ValueError(f"{text!r} is longer than the longest budget, {MAX_TIME_BUDGET_S / 86400:.0f} days")
    return seconds


def _seconds(text: str) -> float:
    """Seconds in a duration's text (lower case, stripped)."""
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text) * 60
    match = _DURATION.match(text)
    if not text or match is None:
        raise ValueError(f"{text!r} is not a duration such as 90s, 15m or 1h30m")
    hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


@dataclass(frozen=True)
class BudgetPlan:
    budget_s: float
    spent_s: float  # from the trainer's start to the end of the last timed step
    step_s: float  # measured seconds per optimizer step
    steps_per_epoch: int
    epochs: int
    checked_epoch: int | None = None  # epochs done at ``EpochCheck``'s last check (spent_s: up to then)
    epoch_s: float | None = None  # seconds an epoch, end to end, over the stretch that check timed

    @property
    def fits(self) -> bool:
        """Whether the planned epochs fit the budget by the measured times (one epoch may not)."""
        if self.epoch_s is None:
            return self.spent_s + self.epochs * self.steps_per_epoch * self.step_s <= self.budget_s
        return self.spent_s + (self.epochs - self.checked_epoch) * self.epoch_s <= self.budget_s

    def record(self) -> dict:
        return {**asdict(self), "fits": self.fits}

    def describe(self) -> str:
        """The plan on one line, as training goes on with it."""
        steps = self.epochs * self.steps_per_epoch
        fit = "" if self.fits else " (one epoch takes longer than the budget)"
        pace = f"{self.step_s:.3g} s a step"
        if self.epoch_s is not None:
            pace = f"{self.epoch_s:.3g} s an epoch (timed whole, up to epoch {self.checked_epoch})"
        length = f"{self.epochs} epoch(s) ({steps} steps)"
        return f"time budget {format_duration(self.budget_s)}: {length} at {pace}{fit}"


def format_duration(seconds: float) -> str:
    """``1h30m``, ``12m``, ``45s``: a duration as ``parse_duration`` reads it, to the second."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if value]
    return "".join(parts) or f"{seconds:.2g}s"


def plan_epochs(budget_s: float, spent_s: float, step_s: float, steps_per_epoch: int) -> BudgetPlan:
    """The most whole epochs whose steps fit ``SAFETY`` of the budget left after ``spent_s``; at least 1
    and at most ``MAX_EPOCHS`` (a step timed near zero would plan billions)."""
    usable = budget_s * SAFETY - spent_s
    fitting = min(MAX_EPOCHS, usable / (step_s * steps_per_epoch)) if step_s > 0 else 1
    return BudgetPlan(budget_s, spent_s, step_s, steps_per_epoch, max(1, math.floor(fitting)))


def check_epochs(plan: BudgetPlan, epochs_done: int, spent_s: float, epoch_s: float) -> BudgetPlan:
    """``plan`` after epoch ``epochs_done`` took ``epoch_s`` end to end and ``spent_s`` in all: the most
    epochs whose rest fits ``SAFETY`` of the budget at ``epoch_s`` each, at most ``MAX_EPOCHS``; none
    beyond those done where nothing more fits."""
    if epoch_s <= 0:  # a clock that did not move: nothing to plan from
        return plan
    more = max(0, math.floor(min(MAX_EPOCHS, (plan.budget_s * SAFETY - spent_s) / epoch_s)))
    epochs = min(MAX_EPOCHS, epochs_done + more)
    return replace(plan, spent_s=spent_s, epochs=epochs, checked_epoch=epochs_done, epoch_s=epoch_s)


class EpochCheck:
    """The clock readings of ``check_epochs``: the run's start (the ``StepTimer``'s) and the start of
    the stretch being timed: first the epoch after the plan, then the epochs up to where the plan
    expects each of ``RECHECK_SHARES`` of the budget spent. Every rank checks after the same epochs:
    ``schedule`` reads the plan every rank follows (rank 0's)."""

    def __init__(self, clock, started: float):
        self.clock, self.started = clock, started
        self.stretch_started: float | None = None
        self.stretch_first = 0  # the index of the stretch's first epoch
        self.due_after: int | None = 0  # the epochs done at whose end it checks; None: no more checks
        self.shares_left = list(RECHECK_SHARES)

    def epoch_starts(self, epoch: int) -> None:
        """Epoch ``epoch`` (its index) starts: the stretch starts with it unless one has started."""
        if self.stretch_started is None:
            self.stretch_started, self.stretch_first = self.clock(), epoch

    def due(self, epochs_done: int) -> bool:
        started = self.stretch_started is not None
        return started and self.due_after is not None and epochs_done >= self.due_after

    def check(self, plan: BudgetPlan, epochs_done: int) -> BudgetPlan:
        """``plan`` checked at the end of the stretch, after ``epochs_done`` epochs."""
        now = self.clock()
        epoch_s = (now - self.stretch_started) / (epochs_done - self.stretch_first)
        self.stretch_started = None
        return check_epochs(plan, epochs_done, now - self.started, epoch_s)

    def schedule(self, plan: BudgetPlan) -> None:
        """The next check: after the epoch the checked ``plan`` expects to end past the next share
        of the budget not yet spent; none when every share is."""
        self.shares_left = [share for share in self.shares_left if share * plan.budget_s > plan.spent_s]
        if not self.shares_left or not plan.epoch_s:  # no epoch time: the clock did not move
            self.due_after = None
            return
        epochs_to = math.ceil((self.shares_left.pop(0) * plan.budget_s - plan.spent_s) / plan.epoch_s)
        self.due_after = plan.checked_epoch + epochs_to

    @property
    def finished(self) -> bool:
        return self.due_after is None


class StepTimer:
    """Clock readings at the end of the first optimizer steps, until there are enough to plan."""

    def __init__(self, clock, steps_per_epoch: int, warmup_steps: int = 0):
        self.clock, self.started = clock, clock()
        timed = max(WARM_STEPS + TIMED_STEPS, warmup_steps)
        self.wanted = min(timed, steps_per_epoch)  # a short epoch plans at its end
        self.ends: list[float] = []

    def step_done(self) -> bool:
        """Record a step's end; True once the steps to plan from are in."""
        self.ends.append(self.clock())
        return len(self.ends) == self.wanted

    def plan(self, budget_s: float, steps_per_epoch: int) -> BudgetPlan:
        first = min(WARM_STEPS, len(self.ends) - 1)  # untimed steps; with few steps, time from the first
        start = self.ends[first - 1] if first > 0 else self.started
        step_s = (self.ends[-1] - start) / (len(self.ends) - first)
        return plan_epochs(budget_s, self.ends[-1] - self.started, step_s, steps_per_epoch)
