"""What every tracker implements, and what a run tells it when it opens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

ParamValue = str | int | float | bool


@dataclass(frozen=True)
class TrackingContext:
    """How a tracker joins a run.

    ``new_run``: a training run from step 0 (a tracker starts a new run and records ``params``);
    otherwise it continues the one it recorded in the run directory (``--resume``, ``sslcli eval``).
    ``start_step``: training continues after this optimizer step, so events logged after it by an
    interrupted process are dropped (TensorBoard's purge); ``None`` (eval): nothing is dropped.
    """

    run_name: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    new_run: bool = True
    start_step: int | None = 0


class Logger(Protocol):
    """One experiment tracker. Tags look like ``train/loss``, ``plots/loss``, ``eval/knn/pretrained``."""

    name: str

    def log_metrics(self, step: int, values: Mapping[str, float]) -> None:
        """Scalars at optimizer step ``step``."""

    def log_image(self, tag: str, path: Path, step: int) -> None:
        """The PNG at ``path`` as picture ``tag`` at ``step``."""

    def close(self, failed: bool = False) -> None:
        """Flush and end; ``failed``: the run stopped on an error."""
