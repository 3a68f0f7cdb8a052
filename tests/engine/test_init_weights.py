"""``pretrain --init``: torchvision, prefixed and safetensors weights load into sslcli's backbones by
name and shape, checked tensor by tensor against the source file; misfits and wrong files are named."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from sslcli.config import PretrainConfig
from sslcli.engine.domain_setup import configured_domain
from sslcli.engine.init_weights import load_init
from sslcli.engine.setup import build_method
from sslcli.errors import UserError
from sslcli.models import build_backbone
from tests.conftest import FAST_PRETRAIN, invoke, write_digit_folder


@pytest.fixture(scope="module")
def torchvision_weights(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A torchvision resnet18 state dict (random init: nothing downloaded) saved as ``resnet18.pth``."""
    torch.manual_seed(1)
    state = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path_factory.mktemp("init") / "resnet18.pth"
    torch.save(state, path)
    return path, state


def assert_loaded(backbone: torch.nn.Module, source: dict[str, torch.Tensor], keys: list[str]) -> None:
    loaded = backbone.state_dict()
    for key in keys:
        assert torch.equal(loaded[key], source[key]), key


def test_torchvision_resnet18_loads_except_the_small_input_stem(torchvision_weights):
    path, source = torchvision_weights
    backbone, _ = build_backbone("resnet18", 16)  # 3x3 stem for small inputs
    stem = backbone.conv1.weight.detach().clone()
    report = load_init(backbone, path)
    fitting = [key for key in source if key != "conv1.weight" and not key.startswith("fc.")]
    assert_loaded(backbone, source, fitting)
    assert torch.equal(backbone.conv1.weight, stem)  # left at its random init
    assert report.total == len(backbone.state_dict()) and report.matched == len(fitting) == report.total - 1
    assert report.skipped == ["conv1.weight shape (64, 3, 7, 7) vs (64, 3, 3, 3)"]
    assert sorted(report.unused) == ["fc.bias", "fc.weight"]
    assert report.note().startswith(f"init: {len(fitting)}/{report.total} backbone tensors from resnet18.pth")


def test_prefixed_keys_under_a_nested_state_dict(torchvision_weights, tmp_path):
    _, source = torchvision_weights
    path = tmp_path / "ddp.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{key}": value for key, value in source.items()}}, path)
    backbone, _ = build_backbone("resnet18", 224)  # torchvision's own 7x7 stem: everything fits
    report = load_init(backbone, path)
    assert_loaded(backbone, source, [key for key in source if not key.startswith("fc.")])
    assert report.matched == report.total and not report.skipped


def test_safetensors_encoder_loads(tmp_path):
    torch.manual_seed(2)
    other, _ = build_backbone("resnet10", 16)
    source = {key: value.contiguous() for key, value in other.state_dict().items()}
    path = tmp_path / "encoder.safetensors"
    save_file(source, str(path))
    backbone, _ = build_backbone("resnet10", 16)
    report = load_init(backbone, path)
    assert_loaded(backbone, source, list(source))
    assert report.matched == report.total == len(source) and report.record()["file"] == "encoder.safetensors"


def test_a_state_dict_of_another_pickle_protocol_loads_without_torchs_warning(torchvision_weights, tmp_path):
    path = tmp_path / "protocol3.pth"
    torch.save(torchvision_weights[1], path, pickle_protocol=3)  # torch warns about any but protocol 2
    backbone, _ = build_backbone("resnet18", 16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = load_init(backbone, path)
    assert report.matched == report.total - 1
    assert [str(warning.message) for warning in caught] == []


def test_momentum_copies_start_from_the_init_weights(torchvision_weights):
    """``build_method`` loads the weights before BYOL copies the backbone into its target."""
    path, source = torchvision_weights
    config = PretrainConfig(method="byol", backbone="resnet18", input_size=16)
    domain = configured_domain(config.domain)
    method = build_method(config, domain, lambda backbone: load_init(backbone, path))
    assert torch.equal(method.target_backbone.layer1[0].conv1.weight, source["layer1.0.conv1.weight"])
    assert torch.equal(method.backbone.layer1[0].conv1.weight, source["layer1.0.conv1.weight"])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("resnet", "none of its 122 tensors fits"),
        ("whole_model", "holds pickled objects"),
        ("garbage", "unreadable weights"),
        ("missing", "no such file"),
        ("directory", "is a directory, not a file"),
        ("protocol_4", "pickle protocol torch's safe loader cannot read"),
        ("torchscript", "a TorchScript archive (an exported model), not weights"),
    ],
)
def test_wrong_files_are_one_line_errors(torchvision_weights, tmp_path, content, expected):
    path = tmp_path / "weights.pt"
    if content == "resnet":
        path = torchvision_weights[0]
    elif content == "whole_model":
        torch.save(torchvision.models.resnet18(weights=None), path)
    elif content == "garbage":
        path.write_bytes(b"not a checkpoint" * 8)
    elif content == "directory":
        path.mkdir()
    elif content == "protocol_4":
        torch.save(torchvision_weights[1], path, pickle_protocol=4)
    elif content == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script: yet sslcli exports it
            torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    vit, _ = build_backbone("vit_tiny", 16)
    with warnings.catch_warnings(record=True) as warned, pytest.raises(UserError) as caught:
        warnings.simplefilter("always")
        load_init(vit, path)
    message = str(caught.value)
    assert expected in message and path.name in message and "\n" not in message
    assert [str(warning.message) for warning in warned] == []


def test_a_directory_given_to_init_is_named_as_one(tmp_path):
    result = invoke("pretrain", "--init", tmp_path, "--out", tmp_path / "run")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().endswith(f"--init {tmp_path}: is a directory, not a file")


def test_cli_pretrain_records_the_init(torchvision_weights, tmp_path):
    path, _ = torchvision_weights
    data, run = write_digit_folder(tmp_path / "data", per_class=4), tmp_path / "run"
    result = invoke("pretrain", "--data", data, "--out", run, *FAST_PRETRAIN, "--init", path)
    assert result.exit_code == 0, result.output
    assert "init: 119/120 backbone tensors from resnet18.pth (skipped: conv1.weight" in result.output
    record = json.loads((run / "config.json").read_text())
    assert record["config"]["init"] == "resnet18.pth" and str(path.parent) not in json.dumps(record)
    assert record["init"]["matched"] == 119 and record["init"]["total"] == 120
    assert record["init"]["skipped"] == ["conv1.weight shape (64, 3, 7, 7) vs (64, 3, 3, 3)"]
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint" * 8)  # loading it would fail: --resume must not
    resumed = invoke("pretrain", "--out", run, "--resume", "--epochs", 2, "--init", garbage)
    assert resumed.exit_code == 0, resumed.output
    assert "init: " not in resumed.output and "ignoring init" in resumed.output
    assert json.loads((run / "config.json").read_text())["init"] == record["init"]
