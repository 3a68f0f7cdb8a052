"""The audio domain end to end: the methods that accept spectrograms train on recordings of every
format without any method or engine file naming the domain, and pretrain -> embed -> eval works
from the CLI, with the run's normalisation statistics reused and bad files reported."""

from __future__ import annotations

import json
import shutil

import pytest
import soundfile
import torch
from rich.console import Console

from sslcli.config import PretrainConfig
from sslcli.engine.launch import pretrain
from sslcli.jobs.encoder import load_encoder
from tests.conftest import invoke
from tests.domains.audio.audio_files import tone, write_tones

SEGMENT = 48  # frames: (1, 64, 48) inputs, 6 time steps of spec_cnn


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    return write_tones(tmp_path_factory.mktemp("tones"))  # 12 recordings, 2 classes


@pytest.mark.parametrize(
    ("method", "backbone"),
    [
        ("simclr", "resnet10"),
        ("moco_v2", "resnet10"),
        ("byol", "resnet10"),
        ("barlow_twins", "resnet10"),
        ("vicreg", "resnet10"),
        ("mae", "vit_tiny_p8"),
        ("cpc", "spec_cnn"),
        ("simclr", "spec_cnn"),
    ],
)
def test_methods_for_spectrograms_train_on_recordings(tones, tmp_path, method, backbone):
    run = tmp_path / "run"
    config = PretrainConfig(
        domain="audio", method=method, data=str(tones), out=str(run), backbone=backbone, epochs=1,
        batch_size=4, input_size=SEGMENT, num_workers=0, device="cpu",
    )  # fmt: skip
    result = pretrain(config, None, Console(quiet=True))
    assert result.state.step == 3 and torch.isfinite(torch.tensor(result.state.last_loss))
    stats = json.loads((run / "audio_normalisation.json").read_text())
    assert stats["std"] > 0 and -100 < stats["mean"] < 40  # dB of real tones
    encoder, _, feature_dim = load_encoder(run)
    assert encoder(torch.randn(2, 1, 64, SEGMENT)).shape == (2, feature_dim)


def test_pretrain_embed_eval_from_the_cli_with_a_bad_file_skipped(tones, tmp_path):
    data = shutil.copytree(tones, tmp_path / "data")
    (data / "low" / "broken.wav").write_bytes(b"RIFF\x00\x00")
    soundfile.write(data / "high" / "silence.flac", 0 * tone(1.0, 0.5, 16000), 16000)
    run, out = tmp_path / "run", tmp_path / "emb"
    fast = ("--epochs", "1", "--batch-size", "4", "--input-size", str(SEGMENT), "--backbone", "resnet10")
    result = invoke(
        "pretrain",
        "--domain",
        "audio",
        "--data",
        data,
        "--out",
        run,
        *fast,
        "--on-error",
        "skip",
        "--num-workers",
        "0",
    )
    assert result.exit_code == 0, result.output
    skipped = (run / "skipped.csv").read_text()
    assert "low/broken.wav" in skipped and "high/silence.flac,all-silent" in skipped
    result = invoke("embed", "--run", run, "--data", data, "--out", out, "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert len((out / "index.csv").read_text().splitlines()) == 1 + 12  # header + the 12 good clips
    assert not (out / "pooled.npy").exists()  # short clips are whole items: no per-file pooling
    result = invoke("eval", "--run", run, "--data", data, "--folder-labels", "--on-error", "skip", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert 0 <= report["pretrained"]["knn"] <= 1 and report["classes"] == 2


def test_the_encoder_is_built_for_the_mel_bands_the_views_ask_for(tones, tmp_path):
    config = PretrainConfig(
        domain="audio", method="simclr", data=str(tones), out=str(tmp_path / "run"), backbone="spec_cnn",
        epochs=1, batch_size=4, input_size=SEGMENT, num_workers=0, device="cpu", views={"n_mels": 32},
    )  # fmt: skip
    result = pretrain(config, None, Console(quiet=True))
    assert result.state.step == 3
    encoder, _, feature_dim = load_encoder(tmp_path / "run")
    assert encoder(torch.randn(2, 1, 32, SEGMENT)).shape == (2, feature_dim)
