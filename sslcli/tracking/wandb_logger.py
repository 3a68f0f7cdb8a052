"""Weights & Biases: ``wandb.init`` in the run directory; ``WANDB_MODE=offline`` keeps it local."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from sslcli.tracking.base import TrackingContext

WANDB_DIR = "wandb"  # wandb.init(dir=RUN_DIR) writes its runs here
RUN_ID_FILE = "sslcli_run_id"


class WandbLogger:
    """One W&B run per training run (project ``WANDB_PROJECT``, default ``sslcli``; ``WANDB_MODE``
    and the other ``WANDB_*`` settings are honoured), resumed by ``--resume`` and ``sslcli eval``.

    W&B's own metadata (command line, host, git, system metrics, console output) is switched off:
    a command line may hold a private ``--data`` path. What it gets is the params it is given.
    """

    name = "wandb"

    def __init__(self, run_dir: Path, context: TrackingContext):
        import wandb

        folder = run_dir / WANDB_DIR
        folder.mkdir(parents=True, exist_ok=True)
        id_file = folder / RUN_ID_FILE
        recorded = None if context.new_run or not id_file.is_file() else id_file.read_text().strip()
        run_id = recorded or secrets.token_hex(6)  # W&B ids: letters and digits
        settings = wandb.Settings(
            x_disable_meta=True, x_disable_stats=True, disable_git=True, save_code=False,
            console="off", silent=True,
        )  # fmt: skip
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "sslcli"),
            dir=str(run_dir),
            id=run_id,
            name=context.run_name,
            resume="allow",
            config=dict(context.params) if context.new_run else None,
            settings=settings,
        )
        id_file.write_text(run_id + "\n")

    def log_metrics(self, step: int, values: Mapping[str, float]) -> None:
        self.run.log(dict(values), step=step)

    def log_image(self, tag: str, path: Path, step: int) -> None:
        import wandb

        self.run.log({tag: wandb.Image(str(path))}, step=step)

    def close(self, failed: bool = False) -> None:
        self.run.finish(exit_code=1 if failed else 0)
