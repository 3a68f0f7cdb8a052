"""Where a run stands (saved in every checkpoint) and what a finished run returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from sslcli.config import PretrainConfig
from sslcli.engine.selection import SCORED_ITEMS
from sslcli.engine.time_budget import BudgetPlan


@dataclass
class TrainState:
    step: int = 0  # optimizer steps done
    epoch: int = 0
    batch_in_epoch: int = 0  # micro-batches of ``epoch`` already consumed
    elapsed_s: float = 0.0
    last_loss: float = float("nan")
    items_seen: int = 0
    selected_epoch: int = 0  # the epoch after which the weights --select keeps were taken (0: none yet)
    selected_step: int = 0
    selected_score: float = 0.0  # its score (meaningful once selected_epoch > 0)
    scored_items: int = SCORED_ITEMS  # items each scoring of --select embeds (engine.selection.scored_count)
    # fields a checkpoint of an earlier version lacks: its run resumes with their defaults
    LATER_FIELDS: ClassVar[tuple[str, ...]] = (
        "selected_epoch",
        "selected_step",
        "selected_score",
        "scored_items",
    )


@dataclass
class PretrainResult:
    run_dir: Path
    config: PretrainConfig
    state: TrainState
    items_found: int
    data_source: str
    skipped: dict[str, str] = field(default_factory=dict)
    budget: BudgetPlan | None = None  # how --time-budget planned the epochs
