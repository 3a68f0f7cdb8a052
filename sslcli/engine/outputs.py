"""What a finished run leaves (rank 0): the encoder file(s), the skip list, the loss plot and the
method's pictures; and the trackers a run logs to, with what an encoder file records of it."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import sslcli
from sslcli.config import PretrainConfig
from sslcli.data.skips import SkipLog
from sslcli.engine.selection import SCORE_COLUMNS, Selection
from sslcli.methods import Method
from sslcli.metrics_csv import MetricsLog
from sslcli.run_dir import METRICS, PLOTS, SKIPPED
from sslcli.tracking.base import TrackingContext
from sslcli.tracking.fanout import Tracking, open_tracking
from sslcli.tracking.params import run_name, tracking_params


def encoder_metadata(config: PretrainConfig, feature_dim: int | dict[str, int]) -> dict[str, str]:
    """What an encoder file records of the run (``encoder_file.ENCODER_METADATA_KEYS``)."""
    return {
        "backbone": config.backbone,
        "input_size": str(config.input_size),
        "domain": config.domain,
        "method": config.method,
        "feature_dim": str(feature_dim),
        "sslcli": sslcli.__version__,
    }


def open_run_tracking(
    config: PretrainConfig, data_set: dict, private: bool, new_run: bool, start_step: int, warn: Callable
) -> Tracking:
    """The trackers of ``config.logger``, joining the run from the step it continues at; ``private``:
    the data's paths may identify people, so no tracker sees them."""
    record = config.to_dict()
    context = TrackingContext(
        run_name(record, private), tracking_params(record, data_set, private), new_run, start_step
    )
    return open_tracking(config.logger, Path(config.out), context, warn, strict=True)


def log_step(
    metrics: MetricsLog, tracking: Tracking, step: int, row: dict, scores: dict, scoring: bool
) -> None:
    """One step's ``row`` in metrics.csv and the trackers; ``scoring`` (``--select`` is on): the score
    columns too, NaN except where ``scores`` has them (trackers get only those)."""
    blanks = dict.fromkeys(SCORE_COLUMNS, math.nan) if scoring else {}
    metrics.append(step=step, **{**row, **blanks, **scores})
    tracking.log_metrics(step, {f"train/{k}": v for k, v in {**row, **scores}.items()})


def write_outputs(
    run_dir: Path,
    selection: Selection,
    state,
    method: Method,
    metadata: dict[str, str],
    show_samples: bool,
    skips: SkipLog,
    console,
) -> list[Path]:
    """The encoder(s) ``--select`` keeps, the skip list, the loss plot and the method's pictures;
    returns the pictures' paths. ``show_samples`` False: no picture may show an input's pixels."""
    from sslcli.reporting.plots import plot_loss, save_picture

    chosen = selection.write_encoders(state, method.backbone, metadata)
    if chosen is not None:
        console.print(chosen, markup=False, highlight=False)
    skips.write(run_dir / SKIPPED)
    loss_plot = run_dir / PLOTS / "loss.png"
    drawn = [loss_plot] if plot_loss(run_dir / METRICS, loss_plot) else []
    for name, picture in method.on_train_end(show_samples).items():
        drawn.append(run_dir / PLOTS / f"{name}.png")
        save_picture(picture, drawn[-1])
    return drawn
