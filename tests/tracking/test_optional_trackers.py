"""MLflow (local SQLite store in the run directory) and Weights & Biases (offline) on one short CLI
run, read back through their own clients / files and compared with metrics.csv."""

from __future__ import annotations

import pytest

from sslcli.metrics_csv import read_metrics
from tests.conftest import FAST_PRETRAIN, invoke, write_digit_folder

pytest.importorskip("mlflow")
pytest.importorskip("wandb")


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    """A 4-step run logged every step to TensorBoard, MLflow and W&B (offline), then evaluated."""
    base = tmp_path_factory.mktemp("tracked")
    data = write_digit_folder(base / "data")
    (base / "every_step.toml").write_text("log_every = 1\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WANDB_MODE", "offline")
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        run = base / "run"
        args = ("--logger", "tensorboard,mlflow", "--logger", "wandb", "--config", base / "every_step.toml")
        result = invoke("pretrain", "--data", data, "--out", run, *FAST_PRETRAIN, *args)
        assert result.exit_code == 0, result.output
        result = invoke("eval", "--run", run, "--data", data, "--protocol", "knn")
        assert result.exit_code == 0, result.output
    return run


def mlflow_run(run_dir):
    from mlflow.tracking import MlflowClient

    from sslcli.tracking.mlflow_logger import tracking_uri

    client = MlflowClient(tracking_uri(run_dir))
    return client, client.get_run((run_dir / "mlflow" / "run_id").read_text().strip())


def test_mlflow_metrics_params_and_artifacts(tracked_run, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client, run = mlflow_run(tracked_run)
    rows = read_metrics(tracked_run / "metrics.csv")
    assert len(rows) == 4
    for column in ("loss", "lr", "items_per_s"):
        history = client.get_metric_history(run.info.run_id, f"train/{column}")
        assert [(m.step, m.value) for m in history] == [
            (int(row["step"]), pytest.approx(row[column], rel=1e-12)) for row in rows
        ]
    assert run.data.params["batch_size"] == "8" and run.data.params["method"] == "simclr"
    assert run.data.metrics["eval/knn/pretrained"] >= 0 and run.info.status == "FINISHED"
    artifacts = {
        f.path for folder in ("plots", "eval") for f in client.list_artifacts(run.info.run_id, folder)
    }
    assert {"plots/loss.png", "eval/embedding_map.png", "eval/label_efficiency.png"} <= artifacts


def test_wandb_offline_writes_its_run_inside_the_run_directory(tracked_run):
    run_id = (tracked_run / "wandb" / "sslcli_run_id").read_text().strip()
    records = sorted((tracked_run / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
    assert len(records) == 2  # pretrain, then eval resuming the same run
    assert b"train/loss" in records[0].read_bytes() and b"eval/knn/pretrained" in records[1].read_bytes()
    images = {p.parent.name for p in (tracked_run / "wandb").rglob("media/images/*/*.png")}
    assert images == {"plots", "eval"}
