"""pretrain -> embed -> eval through the CLI on a tiny real-digit folder."""

import csv
import json

import numpy as np
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from sslcli.cli import main


def test_run_directory_contents(trained_run):
    config = json.loads((trained_run / "config.json").read_text())
    assert config["config"]["input_size"] == 16 and config["versions"]["torch"] == torch.__version__
    assert config["config"]["lr"] is not None and config["config"]["views"]  # every default resolved
    weights = load_file(trained_run / "encoder.safetensors")  # plain safetensors, no sslcli code
    assert "conv1.weight" in weights and weights["conv1.weight"].shape == (64, 3, 3, 3)
    with (trained_run / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {"step", "loss", "lr", "items_per_s"} <= set(rows[0])
    assert (trained_run / "plots" / "loss.png").stat().st_size > 0
    assert (trained_run / "checkpoints" / "last.pt").is_file()


def test_embed_writes_one_row_per_item(trained_run, tmp_path):
    data = trained_run.parent / "data"
    out = tmp_path / "emb"
    result = CliRunner().invoke(
        main,
        [
            "embed",
            "--run",
            str(trained_run),
            "--data",
            str(data),
            "--out",
            str(out),
            "--batch-size",
            "7",
            "--num-workers",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    embeddings = np.load(out / "embeddings.npy")
    with (out / "index.csv").open() as handle:
        index = list(csv.DictReader(handle))
    files = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.png"))
    assert embeddings.shape == (len(files), 512) and embeddings.dtype == np.float32
    assert [row["path"] for row in index] == files
    assert [row["label"] for row in index] == [f.split("/")[0] for f in files]
    assert [int(row["row"]) for row in index] == list(range(len(files)))


def test_eval_json_reports_both_encoders(trained_run):
    data = trained_run.parent / "data"
    result = CliRunner().invoke(main, ["eval", "--run", str(trained_run), "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["knn_params"] == {"k": 20, "T": 0.1}
    assert report["n_train"] + report["n_test"] == 36 and report["classes"] == 3
    for which, dim in (("pretrained", 512), ("random_init", 512), ("raw_input", 3 * 16 * 16)):
        assert 0 <= report[which]["knn"] <= 1 and 0 <= report[which]["linear"] <= 1
        assert report[which]["collapse"]["dim"] == dim
        curve = report[which]["label_efficiency"]
        assert curve["fractions"] == [0.01, 0.05, 0.1, 0.25, 1.0] and len(curve["linear"]["std"]) == 5
    for protocol in ("knn", "linear"):  # won minus lost items is the accuracy difference
        for baseline in ("random_init", "raw_input"):
            paired = report["paired"][protocol][baseline]
            lead = report["pretrained"][protocol] - report[baseline][protocol]
            assert paired["pretrained_only"] - paired["baseline_only"] == round(lead * report["n_test"])
            assert 0 < paired["p_value"] <= 1
    for picture in ("embedding_map.png", "label_efficiency.png"):
        assert (trained_run / "plots" / picture).stat().st_size > 0


def test_eval_table_shows_k_and_temperature(trained_run):
    data = trained_run.parent / "data"
    result = CliRunner().invoke(
        main, ["eval", "--run", str(trained_run), "--data", str(data), "--protocol", "knn"]
    )
    assert result.exit_code == 0, result.output
    assert "k=20" in result.output and "T=0.1" in result.output
    assert "random init" in result.output and "raw input" in result.output
