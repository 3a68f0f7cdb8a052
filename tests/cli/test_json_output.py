"""``--json``: one JSON object on stdout with the documented keys, its numbers matching the files the
command wrote (metrics.csv, embeddings.npy), progress kept off stdout."""

import csv
import json

import numpy as np
import pytest

from tests.conftest import FAST_PRETRAIN, invoke

# The documented keys (README, "Machine-readable output"): a change here is a change of contract.
PRETRAIN_KEYS = {
    "run_dir", "method", "domain", "data", "items", "epochs", "steps", "final_loss", "backbone",
    "input_size", "items_per_s", "seconds", "time_budget", "encoder", "skipped_files",
}  # fmt: skip
EMBED_KEYS = {
    "out", "embeddings", "index", "format", "rows", "dim", "items", "shard", "manifest",
    "waiting_for_shards", "pooled", "already_done", "items_per_s", "skipped_files",
}  # fmt: skip


def test_pretrain_json_matches_the_run_it_wrote(digit_folder, tmp_path):
    run = tmp_path / "run"
    result = invoke("pretrain", "--data", digit_folder, "--out", run, *FAST_PRETRAIN, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)  # the whole of stdout is one object
    assert set(record) == PRETRAIN_KEYS
    with (run / "metrics.csv").open() as handle:
        last = list(csv.DictReader(handle))[-1]
    assert record["steps"] == int(last["step"]) and abs(record["final_loss"] - float(last["loss"])) < 1e-3
    files = len(list(digit_folder.rglob("*.png")))
    assert record["items"] == {"found": files, "used": files, "skipped": 0}
    assert record["data"] == {"source": "folder", "path": str(digit_folder.resolve())}
    assert record["time_budget"] is None and (run / "encoder.safetensors").samefile(record["encoder"])


def test_embed_json_matches_the_array_it_wrote(trained_run, tmp_path):
    data = trained_run.parent / "data"
    out = tmp_path / "emb"
    result = invoke(
        "embed", "--run", trained_run, "--data", data, "--out", out, "--num-workers", "0", "--json"
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert set(record) == EMBED_KEYS
    rows, dim = np.load(out / "embeddings.npy").shape
    assert (record["rows"], record["dim"]) == (rows, dim) == (len(list(data.rglob("*.png"))), 512)
    assert record["items"] == {"found": rows, "embedded": rows, "skipped": 0}
    assert not record["already_done"] and record["shard"] is None and record["pooled"] is None
    again = json.loads(invoke("embed", "--run", trained_run, "--data", data, "--out", out, "--json").stdout)
    assert again["already_done"] and again["items_per_s"] is None and again["rows"] == rows


@pytest.mark.parametrize(
    ("checked", "shown"),
    [
        ({}, "300 s: 4 epochs at 1.50 s a step"),  # 12 + 4 x 10 x 1.5 <= 300
        ({"checked_epoch": 2, "epoch_s": 20.0}, "300 s: 4 epochs at 1.50 s a step, 20.00 s an epoch"),
    ],
)
def test_a_budgeted_run_reports_its_plan_in_the_record_and_the_table(tmp_path, checked, shown):
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from sslcli.cli.summaries import pretrain_record, pretrain_summary
    from sslcli.config import PretrainConfig
    from sslcli.engine.time_budget import BudgetPlan

    state = SimpleNamespace(epoch=4, step=40, last_loss=1.5, items_seen=640, elapsed_s=64.0)
    plan = BudgetPlan(budget_s=300.0, spent_s=12.0, step_s=1.5, steps_per_epoch=10, epochs=4, **checked)
    result = SimpleNamespace(
        run_dir=tmp_path, config=PretrainConfig(input_size=16, backbone="resnet10"), state=state,
        items_found=160, skipped={}, data_source="builtin", budget=plan,
    )  # fmt: skip
    record = pretrain_record(result)
    assert record["time_budget"]["epochs"] == 4 and record["time_budget"]["fits"]  # checked: 12 + 2 x 20
    assert record["items_per_s"] == 10.0
    console = Console(file=io.StringIO(), width=120)
    console.print(pretrain_summary(record))
    assert shown in console.file.getvalue()
    assert not BudgetPlan(300.0, 12.0, 1.5, 10, 20, **checked).fits  # 12 + 20 x 15, or 12 + 18 x 20
