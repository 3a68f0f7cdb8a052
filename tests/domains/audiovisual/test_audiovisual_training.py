"""The audiovisual domain end to end from the CLI: AVID trains one encoder per input on generated
clips with sound, both are exported, ``embed`` and ``eval`` pick one with ``--input``, a video
without sound is skipped with its reason, and methods or backbones that do not fit are one line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sslcli.domains.audiovisual.moving_shapes import moving_shape_clip, name_seed
from sslcli.domains.video.writing import write_mp4

from sslcli.config import load_run_config
from sslcli.engine.checkpoint import load_checkpoint
from sslcli.engine.domain_setup import bound_domain
from sslcli.engine.setup import build_method, discover_items
from sslcli.jobs.encoder import load_encoder
from sslcli.run_dir import CHECKPOINT
from tests.conftest import invoke
from tests.domains.audiovisual.av_files import write_switching_clip

FAST = [
    "--epochs", "1", "--batch-size", "4", "--input-size", "16", "--num-workers", "0", "--device", "cpu",
    "--backbone", "video=resnet10,audio=spec_cnn",
]  # fmt: skip


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("av")
    for shape in ("circle", "square"):
        (root / shape).mkdir()
        for i in range(4):
            frames, sound = moving_shape_clip(shape, np.random.default_rng(name_seed(f"{shape}{i}")))
            write_mp4(root / shape / f"{i}.mp4", frames[:25], 25, sound[:16_000], 16_000)  # 1 s each
    return root


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "av.toml"
    path.write_text("[views]\nframes = 2\nclip_s = 0.5\nn_mels = 32\n")
    return path


@pytest.fixture(scope="module")
def run(clips, config_file, tmp_path_factory):
    data = shutil.copytree(clips, tmp_path_factory.mktemp("with_silent") / "data")
    write_switching_clip(data / "circle" / "silent.mp4", sound=False)
    run = tmp_path_factory.mktemp("runs") / "run"
    result = invoke(
        "pretrain", "--domain", "audiovisual", "--method", "avid", "--data", data, "--out", run,
        "--config", config_file, "--on-error", "skip", *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "circle/silent.mp4" in result.output and "no audio stream" in result.output
    return run


def test_both_encoders_are_exported_under_their_input_names(run):
    tensors = load_file(str(run / "encoder.safetensors"))
    assert {name.split(".")[0] for name in tensors} == {"video", "audio"}
    metrics = (run / "metrics.csv").read_text().splitlines()
    assert "retrieval_top1" in metrics[0]


def test_embed_and_eval_pick_an_input(run, clips, tmp_path):
    dims = {}
    for name in ("video", "audio"):
        out = tmp_path / name
        result = invoke("embed", "--run", run, "--data", clips, "--out", out, "--input", name)
        assert result.exit_code == 0, result.output
        dims[name] = np.load(out / "embeddings.npy").shape
    assert dims["video"] == (8, 512) and dims["audio"][0] == 8  # resnet10 per frame; spec_cnn
    result = invoke("eval", "--run", run, "--data", clips, "--input", "audio", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["input"] == "audio" and report["classes"] == 2 and 0 <= report["pretrained"]["knn"] <= 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "the run has an encoder per input (video, audio); pick one with --input"),
        (("--input", "sound"), "--input sound: no such input"),
    ],
)
def test_embed_without_a_valid_input_is_one_line(run, clips, tmp_path, extra, message):
    result = invoke("embed", "--run", run, "--data", clips, "--out", tmp_path / "out", *extra)
    assert result.exit_code == 1 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_one_input_method_or_a_half_named_backbone_is_refused_in_one_line(clips, tmp_path):
    result = invoke(
        "pretrain", "--domain", "audiovisual", "--method", "simclr", "--data", clips, "--out", tmp_path / "a"
    )
    assert result.exit_code == 1 and "methods for 'audiovisual': avid" in result.output
    result = invoke(
        "pretrain", "--domain", "video", "--method", "avid", "--data", clips, "--out", tmp_path / "b"
    )
    assert result.exit_code == 1 and "2 inputs per sample" in result.output
    result = invoke(
        "pretrain", "--domain", "audiovisual", "--method", "avid", "--data", clips, "--out", tmp_path / "c",
        "--backbone", "video=resnet10",
    )  # fmt: skip
    assert (
        result.exit_code == 1
        and "name each input once as input=backbone (inputs: video, audio)" in result.output
    )
    for out in ("a", "b", "c"):
        assert not (tmp_path / out).exists()


def test_eval_without_input_ranks_each_clip_s_sound_among_all_as_a_plain_loop_does(run, clips):
    result = invoke("eval", "--run", run, "--data", clips, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["pairs"] == 8 and set(report["pretrained"]) == {"video -> audio", "audio -> video"}
    config = load_run_config(run)
    domain = bound_domain(config.domain, run, config.views, create=False)
    method = build_method(config, domain)
    method.load_state_dict(load_checkpoint(run / CHECKPOINT)["method"])
    window = domain.eval_views(config.input_size)
    samples = [window(domain.load(item)) for item in discover_items(domain, clips)]
    with torch.no_grad():
        pairs = [method.eval().embed({k: v[None] for k, v in sample.items()}) for sample in samples]
    video = [torch.nn.functional.normalize(p["video"][0], dim=0) for p in pairs]
    audio = [torch.nn.functional.normalize(p["audio"][0], dim=0) for p in pairs]
    ranks = []  # 1 + the other soundtracks at least as near as the clip's own
    for i, clip in enumerate(video):
        own = float(clip @ audio[i])
        ranks.append(1 + sum(float(clip @ other) >= own for j, other in enumerate(audio) if j != i))
    scores = report["pretrained"]["video -> audio"]
    assert scores["recall@1"] == pytest.approx(sum(r == 1 for r in ranks) / 8, abs=1e-6)
    assert scores["recall@5"] == pytest.approx(sum(r <= 5 for r in ranks) / 8, abs=1e-6)
    assert scores["median_rank"] == sorted(ranks)[3]  # the lower of the two middle ranks, as torch's median
    assert scores["chance@1"] == pytest.approx(1 / 8)


def test_retrieval_of_an_unfinished_run_is_refused_in_one_line(run, clips, tmp_path):
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run, unfinished)
    (unfinished / "encoder.safetensors").unlink()  # as when training stopped before its end
    result = invoke("eval", "--run", unfinished, "--data", clips)
    assert result.exit_code == 1 and "is pretraining finished?" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_embedding_the_sound_reads_no_frames_and_matches_the_pairs_sound(run, clips, tmp_path, monkeypatch):
    config = load_run_config(run)
    domain = bound_domain(config.domain, run, config.views, create=False)
    window = domain.eval_views(config.input_size)
    items = discover_items(domain, clips)
    pairs = [window(domain.load(item))["audio"] for item in items]  # clip and sound decoded together
    encoder, _, _ = load_encoder(run, "audio")
    with torch.no_grad():
        want = encoder(torch.stack(pairs)).numpy()  # (N, F)

    def no_frames(*args, **kwargs):
        raise AssertionError("frames decoded")

    monkeypatch.setattr("sslcli.domains.audiovisual.domain.read_frames", no_frames)
    out = tmp_path / "audio"
    result = invoke(
        "embed", "--run", run, "--data", clips, "--out", out, "--input", "audio", "--num-workers", "0"
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(out / "embeddings.npy"), want, rtol=1e-4, atol=1e-5)
