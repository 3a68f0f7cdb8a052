"""Open a run directory for training: a new run, a restart of one that stopped before its first
checkpoint, or a ``--resume`` of the saved run in the ``--out`` given (with the options it may change
and a check that the data set is the one the run started with). Nothing is written here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sslcli.config import PretrainConfig
from sslcli.engine.domain_setup import bound_domain
from sslcli.engine.run_record import check_same_data, read_run_record
from sslcli.engine.setup import RunPlan, plan_run
from sslcli.errors import UserError
from sslcli.run_dir import CONFIG, folder_state, start_refusal


@dataclass
class ResumeRequest:
    """What a ``--resume`` was given: options it may change (``RESUMABLE_CHANGES``), and whether the
    data set may differ from the one the run started with."""

    changes: dict[str, Any] = field(default_factory=dict)
    allow_data_change: bool = False


@dataclass
class OpenedRun:
    plan: RunPlan
    resume_from_checkpoint: bool
    record: dict[str, Any]  # the saved config.json payload (empty for a new run)
    notes: list[str]


def open_run(config: PretrainConfig, resume: ResumeRequest | None) -> OpenedRun:
    """Plan a new run, restart one that stopped before its first checkpoint, or re-plan a run being
    resumed from its saved config. Nothing is written here."""
    run_dir = Path(config.out)
    refusal = start_refusal(run_dir, resume is not None)
    if refusal:
        raise UserError(refusal)
    state = folder_state(run_dir)
    if resume is not None:
        return reopen_run(config, run_dir, state, resume)
    notes = []
    if state == "partial":
        notes.append(f"{run_dir} held a run that stopped before its first checkpoint; starting it again")
    domain = bound_domain(config.domain, run_dir, config.views, create=True)
    plan = plan_run(config, config.data, domain)
    if config.time_budget_s is None and plan.config.time_budget_s is not None:
        notes.append(
            f"no --epochs or --time-budget on a CPU: training for {plan.config.time_budget_s / 60:.0f} "
            "minutes (pass --time-budget or --epochs to choose)"
        )
    return OpenedRun(plan, False, {}, notes)


def follow_run(
    config: PretrainConfig, resume: ResumeRequest | None, resolved: dict[str, Any], from_checkpoint: bool
) -> OpenedRun:
    """A torchrun rank other than 0: the run rank 0 opened in ``config.out`` and resolved to
    ``resolved``, bound to the domain state rank 0 has written there; its data folder is the one
    given (``config.data``) or the run's own."""
    saved = PretrainConfig.parse(resolved, source="rank 0's config")
    run_dir = Path(saved.out)
    if not (run_dir / CONFIG).is_file():
        raise UserError(
            f"{run_dir}: rank 0's run directory is not visible here; under torchrun --out must be on a "
            "file system every node shares"
        )
    domain = bound_domain(saved.domain, run_dir, saved.views, create=False)
    record = read_run_record(run_dir) if resume is not None else {}
    data = config.data if config.data is not None else saved.data
    return OpenedRun(plan_run(saved, data, domain), from_checkpoint, record, [])


def reopen_run(config: PretrainConfig, run_dir: Path, state: str, resume: ResumeRequest) -> OpenedRun:
    """The saved run in ``run_dir`` (never the ``out`` it was created with), with the allowed changes."""
    record = read_run_record(run_dir)
    saved = PretrainConfig.parse(record.get("config"), source=str(run_dir / CONFIG))
    saved_data = record.get("data_set", {})
    domain = bound_domain(saved.domain, run_dir, saved.views, create=False)
    data = config.data if config.data is not None else saved.data
    if data is None and saved_data.get("source") == "private folder":
        raise UserError(
            f"{run_dir}: the run's data folder is private (its path is not stored); "
            "pass the same --data again"
        )
    changed = {k: v for k, v in resume.changes.items() if getattr(saved, k) != v}
    plan = plan_run(saved.updated(out=str(run_dir), **changed), data, domain)
    check_same_data(saved_data, plan.data_set, resume.allow_data_change)
    notes = [f"{name}: {getattr(saved, name)} -> {value}" for name, value in changed.items()]
    if state == "partial":
        notes.append(f"{run_dir} stopped before its first checkpoint; starting it from step 0")
    return OpenedRun(plan, state == "checkpointed", record, notes)
