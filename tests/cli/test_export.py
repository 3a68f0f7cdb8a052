"""``sslcli export``: each exported file, run outside sslcli on inputs rebuilt from its sidecar alone,
reproduces the vectors ``sslcli embed`` wrote for the same files."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torchvision.transforms.v2 import functional as TF

from sslcli.models import build_backbone
from tests.conftest import invoke, one_error_line

ATOL = 1e-4


@pytest.fixture(scope="module")
def embedded(trained_run, tmp_path_factory) -> tuple[np.ndarray, list[Path]]:
    """``sslcli embed``'s vectors of the run's data folder, and the file of each row."""
    data, out = trained_run.parent / "data", tmp_path_factory.mktemp("export") / "emb"
    result = invoke("embed", "--run", trained_run, "--data", data, "--out", out, "--num-workers", 0)
    assert result.exit_code == 0, result.output
    with (out / "index.csv").open() as handle:
        paths = [data / row["path"] for row in csv.DictReader(handle)]
    return np.load(out / "embeddings.npy"), paths


def export(run: Path, fmt: str, out: Path) -> dict:
    """Export ``run`` as ``fmt`` into ``out``; the sidecar written beside it."""
    result = invoke("export", "--run", run, "--format", fmt, "--out", out)
    assert result.exit_code == 0, result.output
    return json.loads(out.with_name(out.name + ".json").read_text())


def inputs_from_sidecar(sidecar: dict, paths: list[Path]) -> torch.Tensor:
    """The batch rebuilt from the sidecar's record only (PIL decode, torchvision resize and crop, its
    mean and std), independently of sslcli's domain code: (N, C, H, W)."""
    spec = sidecar["inputs"][0]
    steps = spec["preprocessing"]
    mean, std = (torch.tensor(steps["normalize"][key])[:, None, None] for key in ("mean", "std"))
    images = []
    for path in paths:
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255  # (H, W, 3)
        image = torch.from_numpy(pixels).permute(2, 0, 1)  # (3, H, W)
        resize = steps["resize"]
        image = TF.resize(image, resize["shorter_side"], antialias=resize["antialias"])
        image = TF.center_crop(image, steps["center_crop"])
        images.append((image - mean) / std)
    batch = torch.stack(images)  # (N, 3, S, S)
    assert spec["shape"][0] == "batch" and list(batch.shape[1:]) == spec["shape"][1:]
    assert spec["dtype"] == "float32" and spec["channels"] == batch.shape[1]
    return batch


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_onnx_runs_in_onnxruntime_like_embed(trained_run, embedded, tmp_path):
    import onnxruntime

    vectors, paths = embedded
    out = tmp_path / "model.onnx"
    sidecar = export(trained_run, "onnx", out)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (given,) = session.get_inputs()
    assert given.name == sidecar["inputs"][0]["name"] == "image" and isinstance(given.shape[0], str)
    batch = inputs_from_sidecar(sidecar, paths).numpy()
    (features,) = session.run(None, {given.name: batch})
    assert features.shape == vectors.shape == (len(paths), sidecar["feature_dim"])
    np.testing.assert_allclose(features, vectors, atol=ATOL, rtol=0)
    (one,) = session.run(None, {given.name: batch[:1]})  # the batch axis is not fixed
    np.testing.assert_allclose(one, vectors[:1], atol=ATOL, rtol=0)
    assert mode(out) == mode(out.with_name("model.onnx.json")) == mode(trained_run / "encoder.safetensors")


def test_torchscript_loads_with_torch_jit(trained_run, embedded, tmp_path):
    vectors, paths = embedded
    out = tmp_path / "model.pt"
    sidecar = export(trained_run, "torchscript", out)
    module = torch.jit.load(str(out))
    with torch.no_grad():
        features = module(inputs_from_sidecar(sidecar, paths)).numpy()
    np.testing.assert_allclose(features, vectors, atol=ATOL, rtol=0)


def test_safetensors_loads_into_a_fresh_backbone(trained_run, embedded, tmp_path):
    vectors, paths = embedded
    out = tmp_path / "weights.safetensors"
    sidecar = export(trained_run, "safetensors", out)
    spec = sidecar["inputs"][0]
    backbone, dim = build_backbone(sidecar["backbone"], tuple(spec["size"]), spec["channels"])
    backbone.load_state_dict(load_file(out))  # strict: every key and shape
    with torch.no_grad():
        features = backbone.eval()(inputs_from_sidecar(sidecar, paths)).numpy()
    assert dim == sidecar["feature_dim"] and sidecar["method"] == "simclr"
    np.testing.assert_allclose(features, vectors, atol=ATOL, rtol=0)


def test_default_out_is_inside_the_run_and_names_no_path(trained_run, tmp_path):
    run = tmp_path / "private_run_name"
    shutil.copytree(trained_run, run)  # the shared run stays read-only
    result = invoke("export", "--run", run, "--format", "safetensors")
    assert result.exit_code == 0, result.output
    written = run / "export" / "encoder.safetensors"
    assert written.is_file() and str(written) in result.output
    sidecar = (run / "export" / "encoder.safetensors.json").read_text()
    assert "private_run_name" not in sidecar and str(tmp_path) not in sidecar
    versions = json.loads(sidecar)["versions"]
    assert versions["torch"] == torch.__version__ and "sslcli" in versions


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--run", "{missing}", "--format", "onnx"], "run directory not found"),
        (["--run", "{run}", "--format", "tflite"], "'tflite' is not one of"),
        (["--run", "{run}", "--format", "onnx", "--input", "audio"], "the run's only input is image"),
    ],
)
def test_bad_input_is_one_line(trained_run, tmp_path, args, expected):
    filled = [arg.format(missing=tmp_path / "nope", run=trained_run) for arg in args]
    assert expected in one_error_line(invoke("export", *filled))


def test_missing_onnx_packages_say_how_to_install(trained_run, tmp_path, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else find_spec(name, *a)
    )
    line = one_error_line(invoke("export", "--run", trained_run, "--format", "onnx", "--out", tmp_path / "m"))
    assert "onnxscript" in line and 'pip install "sslcli[export]"' in line
    assert not (tmp_path / "m").exists()
