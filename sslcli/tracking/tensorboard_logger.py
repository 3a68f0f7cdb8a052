"""TensorBoard event files in ``RUN_DIR/tb/`` (``torch.utils.tensorboard.SummaryWriter``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from sslcli.tracking.base import TrackingContext

TB_DIR = "tb"


class TensorBoardLogger:
    """Scalars and pictures for ``tensorboard --logdir RUN_DIR/tb``.

    A resumed run opens its writer with ``purge_step`` one past the checkpoint's step: TensorBoard's
    readers then drop what the interrupted process logged after the checkpoint, so no step appears
    twice. The config is recorded once, as text, when the run starts.
    """

    name = "tensorboard"

    def __init__(self, run_dir: Path, context: TrackingContext):
        from torch.utils.tensorboard import SummaryWriter

        purge_step = None if context.start_step is None else context.start_step + 1
        self.writer = SummaryWriter(str(run_dir / TB_DIR), purge_step=purge_step)
        if context.new_run and context.params:
            shown = json.dumps(dict(context.params), indent=2)
            self.writer.add_text("config", f"```\n{shown}\n```", 0)

    def log_metrics(self, step: int, values: Mapping[str, float]) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def log_image(self, tag: str, path: Path, step: int) -> None:
        from PIL import Image

        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))  # (H, W, 3)
        self.writer.add_image(tag, pixels, step, dataformats="HWC")

    def close(self, failed: bool = False) -> None:
        self.writer.close()
