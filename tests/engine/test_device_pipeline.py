"""The data path that keeps a device busy, run on the CPU: colour stages on whole batches
(``augment_on="device"``) train end to end, multi-crop included, and resume exactly; ``--compile``
trains, keeps the encoder's parameter names and is recorded, or fails in one line."""

import json

import pytest
import torch
from rich.console import Console
from safetensors.torch import load_file

from sslcli.engine.acceleration import channels_last_convolutions, channels_last_views
from sslcli.engine.launch import pretrain
from sslcli.methods import StepContext
from sslcli.methods.simclr import SimCLR
from sslcli.models import build_backbone
from sslcli.run_dir import CHECKPOINT, ENCODER
from tests.cli.test_bad_input import assert_one_line_error
from tests.conftest import FAST_PRETRAIN, invoke
from tests.engine.test_resume import assert_same_parameters, killed_then_resumed, tiny_config
from tests.methods.test_training import IMAGE_METHODS, build, make_views

ON_DEVICE = {"augment_on": "device"}


def test_colour_stages_on_the_device_train_end_to_end(digit_folder, tmp_path, monkeypatch):
    seen = []
    forward = SimCLR.forward

    def recording_forward(self, views, ctx):
        seen.append([view["image"].mean().item() for view in views])
        return forward(self, views, ctx)

    monkeypatch.setattr(SimCLR, "forward", recording_forward)
    config = tiny_config(digit_folder, tmp_path / "run", epochs=1, views=ON_DEVICE)
    result = pretrain(config, False, Console(quiet=True))
    assert result.state.step == 4 and torch.isfinite(torch.tensor(result.state.last_loss))  # 36 // 8
    assert all(mean < 0 for means in seen for mean in means)  # normalised: dark digits sit below 0
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["config"]["views"]
    assert recorded["augment_on"] == "device"


def test_multi_crop_views_train_with_the_colour_stages_on_the_device(digit_folder, tmp_path):
    views = {**ON_DEVICE, "local_crops": 2}
    config = tiny_config(digit_folder, tmp_path / "run", method="dino", epochs=1, views=views)
    result = pretrain(config, False, Console(quiet=True))
    assert result.state.step == 4 and torch.isfinite(torch.tensor(result.state.last_loss))


def test_a_resumed_run_draws_the_same_batch_augmentations(digit_folder, tmp_path, monkeypatch):
    pretrain(tiny_config(digit_folder, tmp_path / "whole", views=ON_DEVICE), False, Console(quiet=True))
    # killed mid-epoch 2: a checkpoint after each step, 4 batches an epoch
    killed_then_resumed(tiny_config(digit_folder, tmp_path / "split", views=ON_DEVICE), 6, monkeypatch)
    assert_same_parameters(tmp_path / "whole", tmp_path / "split")


def compiled_run(data, run):
    return invoke(
        "pretrain", "--data", data, "--out", run, *FAST_PRETRAIN, "--backbone", "resnet10", "--compile"
    )


def test_compile_trains_keeps_parameter_names_and_is_recorded(digit_folder, tmp_path):
    run = tmp_path / "run"
    result = compiled_run(digit_folder, run)
    assert result.exit_code == 0, result.output
    assert json.loads((run / "config.json").read_text())["config"]["compile"] is True
    backbone, _ = build_backbone("resnet10", (16, 16), 3)
    assert set(load_file(run / ENCODER)) == set(backbone.state_dict())
    saved = torch.load(run / CHECKPOINT, weights_only=True)["method"]
    assert {name.removeprefix("backbone.") for name in saved if name.startswith("backbone.")} == set(
        backbone.state_dict()
    )


def test_compile_without_a_working_compiler_is_one_line(digit_folder, tmp_path, monkeypatch):
    import torch._inductor.config as inductor

    torch._dynamo.reset()  # nor a graph an earlier test compiled in this process
    monkeypatch.setattr(inductor.cpp, "cxx", (None, str(tmp_path / "no-such-g++")))
    monkeypatch.setattr(inductor, "force_disable_caches", True)  # a cached kernel needs no compiler
    result = compiled_run(digit_folder, tmp_path / "run")
    assert_one_line_error(result, "--compile: torch.compile failed on cpu", "run without --compile")


@pytest.mark.parametrize("name", IMAGE_METHODS)
def test_every_image_method_takes_channels_last_weights_and_batches(name):
    """What the trainer does on CUDA, checked on the CPU: no method reshapes a channels-last batch
    with ``view`` or otherwise assumes the contiguous layout."""
    images = [torch.rand(3, 8, 8) for _ in range(12)]
    method = build(name)
    channels_last_convolutions(method)
    views = channels_last_views(make_views(method.family, images))
    nhwc = torch.channels_last
    assert all(view["image"].is_contiguous(memory_format=nhwc) for view in views)
    convolutions = [m for m in method.modules() if isinstance(m, torch.nn.Conv2d)]  # none in a ViT
    assert all(convolution.weight.is_contiguous(memory_format=nhwc) for convolution in convolutions)
    features = lambda: method.backbone.eval()(views[0]["image"]).detach()  # noqa: E731  (every item's)
    method.on_epoch_start(StepContext(features=features))  # DeepCluster's first clustering
    method.train()
    torch.manual_seed(0)
    ctx = StepContext(indices=torch.arange(len(images)), features=features)
    loss = method(views, ctx).loss
    loss.backward()
    assert torch.isfinite(loss)
