"""MLflow: a local database inside ``RUN_DIR/mlflow/`` unless ``MLFLOW_TRACKING_URI`` names a server."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

from sslcli.tracking.base import TrackingContext

MLFLOW_DIR = "mlflow"
RUN_ID_FILE = "run_id"
PARAMS_PER_CALL = 100  # MLflow's limit on params in one log_batch


def tracking_uri(run_dir: Path) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else SQLite in the run directory (MLflow's file store is in
    maintenance mode and refuses to open by default)."""
    database = (run_dir / MLFLOW_DIR / "mlflow.db").resolve()
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{database}"


class MlflowLogger:
    """One MLflow run per training run (experiment ``MLFLOW_EXPERIMENT_NAME``, default ``sslcli``):
    params when it starts, metrics per step, pictures as artifacts under ``plots/`` and ``eval/``.
    Its id is kept in ``RUN_DIR/mlflow/run_id``, so ``--resume`` and ``sslcli eval`` add to it."""

    name = "mlflow"

    def __init__(self, run_dir: Path, context: TrackingContext):
        from mlflow.tracking import MlflowClient

        for noisy in ("mlflow", "alembic"):  # table creation logs at INFO on every new run
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self.folder = run_dir / MLFLOW_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self.local = "MLFLOW_TRACKING_URI" not in os.environ
        self.client = MlflowClient(tracking_uri=tracking_uri(run_dir))
        self.run_id = None if context.new_run else self._recorded_run()
        if self.run_id is None:
            self.run_id = self._start(context)
        else:
            self.client.update_run(self.run_id, status="RUNNING")

    def _recorded_run(self) -> str | None:
        """The run this run directory logged to before, if the tracking store still has it."""
        from mlflow.exceptions import MlflowException

        path = self.folder / RUN_ID_FILE
        if not path.is_file():
            return None
        run_id = path.read_text().strip()
        try:
            self.client.get_run(run_id)
        except MlflowException:
            return None
        return run_id

    def _start(self, context: TrackingContext) -> str:
        from mlflow.entities import Param

        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "sslcli")
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            artifacts = (self.folder / "artifacts").resolve().as_uri() if self.local else None
            experiment_id = self.client.create_experiment(name, artifact_location=artifacts)
        else:
            experiment_id = experiment.experiment_id
        run_id = self.client.create_run(experiment_id, run_name=context.run_name).info.run_id
        params = [Param(key, str(value)) for key, value in context.params.items()]
        for start in range(0, len(params), PARAMS_PER_CALL):
            self.client.log_batch(run_id, params=params[start : start + PARAMS_PER_CALL])
        (self.folder / RUN_ID_FILE).write_text(run_id + "\n")
        return run_id

    def log_metrics(self, step: int, values: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, step) for key, value in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def log_image(self, tag: str, path: Path, step: int) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path=tag.rpartition("/")[0] or None)

    def close(self, failed: bool = False) -> None:
        self.client.set_terminated(self.run_id, "FAILED" if failed else "FINISHED")
