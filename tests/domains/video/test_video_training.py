"""The video domain end to end: the methods that accept clips train on generated videos with each
clip encoder, and pretrain -> embed -> eval works from the CLI, with per-segment rows (start and end
seconds) and one pooled row per video."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from rich.console import Console
from sslcli.domains.video.domain import VideoDomain, VideoSettings

from sslcli.config import PretrainConfig
from sslcli.engine.launch import pretrain
from sslcli.engine.opening import open_run
from sslcli.jobs.encoder import load_encoder
from sslcli.models.vit import VisionTransformer
from tests.conftest import invoke
from tests.domains.video.video_files import write_counting_video

FRAMES, SIDE = 4, 16


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    for label, size in (("wide", (48, 32)), ("tall", (32, 48))):
        (root / label).mkdir()
        for i in range(4):
            write_counting_video(root / label / f"{i}.mp4", frames=20 + 5 * i, size=size)
    return root  # 8 videos of 0.8 to 1.4 s, 2 classes


@pytest.mark.parametrize(
    ("method", "backbone"),
    [
        ("simclr", "resnet10"),
        ("byol", "resnet10"),
        ("clip_order", "resnet10"),
        ("simclr", "r2plus1d_18"),
        ("vicreg", "resnet10"),
        ("barlow_twins", "resnet10"),
        ("moco_v2", "resnet10"),  # any kind
    ],
)
def test_methods_for_clips_train_on_videos(videos, tmp_path, method, backbone):
    run = tmp_path / "run"
    config = PretrainConfig(
        domain="video", method=method, data=str(videos), out=str(run), backbone=backbone, epochs=1,
        batch_size=4, input_size=SIDE, num_workers=0, device="cpu", views={"frames": FRAMES},
    )  # fmt: skip
    result = pretrain(config, None, Console(quiet=True))
    assert result.state.step == 2 and torch.isfinite(torch.tensor(result.state.last_loss))
    encoder, _, feature_dim = load_encoder(run)
    assert encoder(torch.randn(2, FRAMES, 3, SIDE, SIDE)).shape == (2, feature_dim)


def test_a_new_run_loads_clips_as_its_recipe_says(videos, tmp_path):
    """The CPU recipe's clips (fewer frames than the domain's default) are what training loads, not
    only what config.json records: the run's domain is configured with the resolved views."""
    config = PretrainConfig(domain="video", data=str(videos), out=str(tmp_path / "run"), device="cpu")
    plan = open_run(config, None).plan
    frames = plan.config.views["frames"]
    assert frames != VideoSettings().frames  # the recipe changed it (else this test shows nothing)
    augment = plan.domain.augment(plan.config.input_size, plan.domain.options)
    clip = augment(plan.domain.load(plan.items[0])["video"])  # (T, 3, S, S)
    assert clip.shape[0] == frames


def test_a_recipe_that_changes_no_discovery_option_finds_the_items_once(videos, tmp_path, monkeypatch):
    """Frames a clip shape loading, not discovery: the folder's headers are probed once, not twice."""
    calls = []
    discover = VideoDomain.discover
    monkeypatch.setattr(
        VideoDomain, "discover", lambda self, root: calls.append(root) or discover(self, root)
    )
    config = PretrainConfig(domain="video", data=str(videos), out=str(tmp_path / "run"), device="cpu")
    plan = open_run(config, None).plan
    assert plan.config.views["frames"] != VideoSettings().frames and len(calls) == 1


def test_videomae_trains_a_tubelet_vit_on_videos_draws_its_clips_and_reloads(videos, tmp_path):
    run = tmp_path / "run"
    config = PretrainConfig(
        domain="video", method="videomae", data=str(videos), out=str(run), epochs=1, batch_size=4,
        input_size=SIDE, num_workers=0, device="cpu", views={"frames": FRAMES},
        method_options={"decoder_depth": 1},
    )  # fmt: skip
    result = pretrain(config, None, Console(quiet=True))
    assert result.state.step == 2 and torch.isfinite(torch.tensor(result.state.last_loss))
    assert (run / "plots" / "videomae_reconstruction.png").stat().st_size > 0
    encoder, saved, feature_dim = load_encoder(run)
    assert saved.backbone == "vit_tiny" and isinstance(encoder, VisionTransformer)
    assert encoder.patch_grid.grid == (FRAMES // 2, 8, 8)  # 2-frame tubelets of 2x2 px
    assert encoder(torch.randn(2, FRAMES, 3, SIDE, SIDE)).shape == (2, feature_dim)


def test_pretrain_embed_eval_from_the_cli_with_segments_pooled_per_video(videos, tmp_path):
    data = shutil.copytree(videos, tmp_path / "data")
    write_counting_video(data / "wide" / "long.mp4", frames=40, size=(48, 32))  # 1.6 s: 2 segments
    config = tmp_path / "video.toml"
    config.write_text(f"[views]\nsegment_s = 0.75\nframes = {FRAMES}\n")
    run, out = tmp_path / "run", tmp_path / "emb"
    fast = ["--epochs", "1", "--batch-size", "4", "--input-size", str(SIDE), "--backbone", "resnet10"]
    result = invoke("pretrain", "--domain", "video", "--data", data, "--out", run, "--config", config, *fast)
    assert result.exit_code == 0, result.output
    result = invoke("embed", "--run", run, "--data", data, "--out", out)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "index.csv").open()))
    segments = [row for row in rows if row["path"] == "wide/long.mp4"]
    assert len(rows) == 8 + 2  # the others are shorter than two segments: whole items
    assert [(r["start_s"], r["end_s"]) for r in segments] == [("0.0", "0.75"), ("0.75", "1.6")]
    embeddings, pooled = np.load(out / "embeddings.npy"), np.load(out / "pooled.npy")
    at = [i for i, row in enumerate(rows) if row["path"] == "wide/long.mp4"]
    pooled_rows = list(csv.DictReader((out / "pooled_index.csv").open()))
    (long_row,) = [int(r["row"]) for r in pooled_rows if r["path"] == "wide/long.mp4"]
    np.testing.assert_allclose(pooled[long_row], embeddings[at].mean(axis=0), rtol=1e-5, atol=1e-6)
    result = invoke("eval", "--run", run, "--data", data, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert 0 <= report["pretrained"]["knn"] <= 1 and report["classes"] == 2


@pytest.mark.parametrize(
    ("method", "frames", "backbone", "message"),
    [
        ("clip_order", 2, "resnet10", "needs at least clips=3 frames per clip, got 2"),
        ("videomae", 3, "vit_tiny", "tubelets of 2 frames: clips of 3 frames"),
    ],
)
def test_clips_a_method_cannot_cut_are_refused_in_one_line(
    videos, tmp_path, method, frames, backbone, message
):
    config = tmp_path / "clip.toml"
    config.write_text(f"[views]\nframes = {frames}\n")
    run = tmp_path / "run"
    result = invoke(
        "pretrain", "--domain", "video", "--method", method, "--data", videos, "--out", run,
        "--config", config, "--input-size", str(SIDE), "--backbone", backbone,
    )  # fmt: skip
    assert result.exit_code == 1 and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and not run.exists()
