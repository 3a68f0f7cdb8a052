"""``encoder.safetensors`` is verified before ``eval``/``embed`` use it: a damaged file, one for
another architecture or one holding NaN weights stops with one line instead of garbage or a traceback.

References are independent of sslcli: the safetensors layout (8-byte little-endian header length,
JSON header, data) to find the weights' bytes, torchvision's ResNet stem shapes, the umask rule.
"""

import hashlib
import json
import os
import shutil
import stat
import struct

import pytest
import torch
from click.testing import CliRunner
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from sslcli.cli import main
from sslcli.config import load_run_config
from sslcli.engine.checkpoint import save_checkpoint
from sslcli.engine.encoder_file import save_encoder
from sslcli.errors import UserError
from sslcli.jobs.encoder import load_encoder
from sslcli.models import build_backbone


@pytest.fixture
def run(trained_run, tmp_path):
    """A copy of the shared finished run (its checkpoints left out: nothing here reads them)."""
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy, ignore=shutil.ignore_patterns("checkpoints"))
    return copy


def encoder_path(run):
    return run / "encoder.safetensors"


def refusal(run) -> str:
    with pytest.raises(UserError) as err:
        load_encoder(run)
    message = str(err.value)
    assert message.startswith(f"{encoder_path(run)}: "), message
    assert "\n" not in message
    return message


def flip_a_weight_byte(path) -> None:
    """Flip one bit in the middle of the data section (found from the safetensors layout)."""
    raw = bytearray(path.read_bytes())
    (header_len,) = struct.unpack("<Q", raw[:8])
    data_start = 8 + header_len
    raw[data_start + (len(raw) - data_start) // 2] ^= 0x40
    path.write_bytes(bytes(raw))


def test_save_encoder_stores_a_checksum_of_the_tensors(run):
    with safe_open(str(encoder_path(run)), framework="pt") as handle:
        metadata = handle.metadata()
    weights = load_file(encoder_path(run))
    digest = hashlib.sha256()  # the documented recipe: name, dtype, shape, bytes, in name order
    for name in sorted(weights):
        tensor = weights[name]
        digest.update(
            json.dumps([name, str(tensor.dtype), list(tensor.shape), tensor.nbytes]).encode() + b"\n"
        )
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    assert metadata["tensors_sha256"] == digest.hexdigest()


def test_a_file_without_a_checksum_is_refused_until_signed(run):
    with safe_open(str(encoder_path(run)), framework="pt") as handle:
        metadata = handle.metadata()
    weights = load_file(encoder_path(run))  # an encoder written before the checksum existed
    del metadata["tensors_sha256"]
    save_file(weights, encoder_path(run), metadata=metadata)
    message = refusal(run)
    assert "no checksum" in message and f"sslcli sign {encoder_path(run)}" in message

    result = CliRunner().invoke(main, ["sign", str(run)])
    assert result.exit_code == 0, result.output
    assert "checksum added" in result.output
    backbone, _, _ = load_encoder(run)
    assert all(torch.equal(t, weights[name]) for name, t in backbone.state_dict().items())
    again = CliRunner().invoke(main, ["sign", str(encoder_path(run))])
    assert again.exit_code == 0 and "already signed" in again.output


@pytest.mark.parametrize("renamed", ["tensors_sha257", "checksum"])
def test_a_renamed_checksum_key_does_not_switch_the_check_off(run, renamed):
    path = encoder_path(run)
    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    metadata = header["__metadata__"]
    metadata[renamed] = metadata.pop("tensors_sha256")
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + header_len :])
    flip_a_weight_byte(path)
    assert f"unknown metadata key(s) '{renamed}'" in refusal(run)
    result = CliRunner().invoke(main, ["sign", str(path)])  # tampering is never signed
    assert result.exit_code != 0 and "unknown metadata key" in result.output


def test_a_damaged_signed_file_is_not_re_signed(run):
    flip_a_weight_byte(encoder_path(run))
    result = CliRunner().invoke(main, ["sign", str(run)])
    assert result.exit_code != 0 and "checksum mismatch" in result.output


def test_the_same_weights_give_the_same_bytes(tmp_path):
    torch.manual_seed(0)
    backbone, _ = build_backbone("resnet10", 16)
    metadata = {"backbone": "resnet10", "input_size": "16", "domain": "natural", "method": "simclr"}
    metadata |= {"feature_dim": "512", "sslcli": "0.1.0"}
    paths = [tmp_path / f"{i}.safetensors" for i in range(4)]
    for path in paths:  # safetensors' writer orders the metadata at random: 4 writes would differ
        save_encoder(path, backbone, metadata)
    assert len({path.read_bytes() for path in paths}) == 1
    loaded = load_file(paths[0])
    assert all(torch.equal(loaded[name], t) for name, t in backbone.state_dict().items())


def test_a_flipped_byte_in_the_weights_is_a_checksum_error(run):
    path = encoder_path(run)
    original = {name: t.clone() for name, t in load_file(path).items()}  # not views of the file
    flip_a_weight_byte(path)
    damaged = load_file(path)  # safetensors itself reads it without complaint...
    assert not all(torch.equal(t, original[name]) for name, t in damaged.items())  # ...but it is wrong

    assert "checksum mismatch (file damaged)" in refusal(run)


def test_an_encoder_for_another_input_size_names_the_key_and_both_shapes(run):
    config = load_run_config(run)
    assert (config.backbone, config.input_size) == ("resnet18", 16)  # stem 3x3 below 64 px
    imagenet_stem, _ = build_backbone("resnet18", 224)  # torchvision's 7x7 stem
    save_encoder(encoder_path(run), imagenet_stem, {})
    message = refusal(run)
    assert "conv1.weight" in message
    assert "(64, 3, 7, 7)" in message and "(64, 3, 3, 3)" in message


def test_an_encoder_of_a_deeper_backbone_names_the_extra_keys(run):
    deeper, _ = build_backbone("resnet34", 16)  # 3-4-6-3 blocks instead of 2-2-2-2
    save_encoder(encoder_path(run), deeper, {})
    message = refusal(run)
    assert "unexpected layer1.2." in message
    assert "more" in message  # the count of the other extra keys, not a list of all of them


def nan_encoder(run) -> str:
    """Give the run an encoder (with a valid checksum) whose layer2 and layer4 hold NaN/inf."""
    backbone, _, _ = load_encoder(run)
    with torch.no_grad():
        backbone.layer2[0].conv1.weight[0, 0, 0, 0] = float("nan")
        backbone.layer4[1].bn2.bias[3] = float("inf")
    save_encoder(encoder_path(run), backbone, {"backbone": "resnet18"})
    return "layer2.0.conv1.weight"


def test_nan_weights_are_refused_naming_the_first_bad_tensor(run):
    first_bad = nan_encoder(run)
    message = refusal(run)
    assert "non-finite weights" in message and first_bad in message and "diverged" in message
    assert "layer4" not in message


@pytest.mark.parametrize("command", ["eval", "embed"])
def test_eval_and_embed_of_a_diverged_run_stop_with_one_line(trained_run, run, tmp_path, command):
    nan_encoder(run)
    args = ["--run", str(run), "--data", str(trained_run.parent / "data"), "--device", "cpu"]
    if command == "embed":
        args += ["--out", str(tmp_path / "emb"), "--num-workers", "0"]
    result = CliRunner().invoke(main, [command, *args])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert "non-finite weights" in errors[0] and "encoder.safetensors" in errors[0], errors[0]
    assert not (tmp_path / "emb").exists()


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["umask022", "umask027"])
def test_the_encoder_gets_the_same_permissions_as_other_outputs(tmp_path, umask):
    previous = os.umask(umask)
    try:
        save_encoder(tmp_path / "encoder.safetensors", torch.nn.Linear(3, 2), {})
        save_checkpoint(tmp_path / "last.pt", {"x": torch.zeros(1)})
    finally:
        os.umask(previous)
    want = 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "encoder.safetensors").stat().st_mode) == want
    assert stat.S_IMODE((tmp_path / "last.pt").stat().st_mode) == want


def test_sign_without_an_encoder_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["sign", str(tmp_path)])  # a folder without encoder.safetensors
    assert result.exit_code == 1
    assert result.output == f"Error: {tmp_path / 'encoder.safetensors'}: no such file\n"
