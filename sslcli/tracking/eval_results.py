"""``sslcli eval``'s results into the trackers of the run it scored, at the run's last step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sslcli.scoring import ENCODERS
from sslcli.tracking.base import TrackingContext
from sslcli.tracking.fanout import open_tracking
from sslcli.tracking.params import run_name

PROTOCOLS = ("knn", "linear")
IMAGES = {"eval/embedding_map": "embedding_map", "eval/label_efficiency": "label_efficiency_plot"}


def eval_scalars(report: dict) -> dict[str, float]:
    """Accuracies (``eval/knn/pretrained``, ...) and effective rank of a classification report; recall@k
    and median rank (``eval/video_to_audio/recall@1/pretrained``, ...) of a retrieval report."""
    scalars: dict[str, float] = {}
    for which in ENCODERS:
        scores = report.get(which)
        if not isinstance(scores, dict):
            continue
        if "pairs" in report:  # retrieval: {"video -> audio": {"recall@1": ..., ...}, ...}
            for pair, metrics in scores.items():
                for metric, value in metrics.items():
                    if isinstance(value, int | float):
                        scalars[f"eval/{pair.replace(' -> ', '_to_')}/{metric}/{which}"] = float(value)
            continue
        for protocol in PROTOCOLS:
            if protocol in scores:
                scalars[f"eval/{protocol}/{which}"] = float(scores[protocol])
        if "collapse" in scores:
            scalars[f"eval/effective_rank/{which}"] = float(scores["collapse"]["effective_rank"])
    return scalars


def eval_images(report: dict) -> dict[str, Path]:
    """The figures eval drew (tag -> PNG); the embedding map is absent for fewer than 5 test items."""
    return {tag: Path(report[key]) for tag, key in IMAGES.items() if report.get(key)}


def log_eval(
    run_dir: Path, config, report: dict, step: int, private: bool, warn: Callable[[str], None]
) -> None:
    """Add ``report``'s scalars and figures to the run's trackers (``config.logger``) at ``step`` (the
    run's last); a tracker that cannot open or write is reported with ``warn``, never failing the eval
    (eval.json is written before)."""
    if not config.logger:
        return
    context = TrackingContext(run_name(config.to_dict(), private), new_run=False, start_step=None)
    with open_tracking(config.logger, run_dir, context, warn, strict=False) as tracking:
        tracking.log_metrics(step, eval_scalars(report))
        tracking.log_images(eval_images(report), step)
