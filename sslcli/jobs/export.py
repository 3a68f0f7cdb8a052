"""``sslcli export``: a run's trained encoder as ONNX, TorchScript or safetensors for serving, with a
JSON sidecar (``<file>.json``) recording the input it takes (name, shape with a dynamic batch axis,
dtype, channels, size), the domain's preprocessing that makes that input from a file (``Domain.
preprocessing``), the output's size, and the method, backbone and versions. Nothing in either file
names a path or folder (the run's data may be a patient archive).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import sslcli
from sslcli.config import PretrainConfig
from sslcli.domains import InputSpec
from sslcli.engine.encoder_file import EXPORT_SIDECAR_KEY, save_encoder
from sslcli.engine.setup import backbone_names
from sslcli.errors import UserError
from sslcli.jobs.encoder import open_trained_run, trained_encoder
from sslcli.jobs.export_formats import OUTPUT_NAME, write_onnx, write_torchscript
from sslcli.run_dir import write_text_atomic

FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "safetensors": ".safetensors"}
EXPORT_DIR = "export"  # RUN_DIR/export/: where files go without --out


@dataclass
class ExportResult:
    path: Path
    sidecar: Path
    record: dict[str, Any]  # the sidecar's content


def output_path(run_dir: Path, fmt: str, out: Path | None, input_name: str | None) -> Path:
    """``out``, or inside it where it is a folder, else ``RUN_DIR/export/``; the default file name is
    ``encoder[-INPUT]`` with the format's suffix."""
    name = f"encoder{f'-{input_name}' if input_name else ''}{FORMATS[fmt]}"
    if out is None:
        return run_dir / EXPORT_DIR / name
    return out / name if out.is_dir() else out


def describe(
    config: PretrainConfig, backbone: str, name: str, spec: InputSpec, preprocessing: dict, dim: int, fmt: str
) -> dict[str, Any]:
    """The sidecar: what a serving process needs to build the input and read the output (``backbone``
    and ``spec``: of input ``name``)."""
    return {
        "format": fmt,
        "inputs": [
            {
                "name": name,
                "kind": spec.kind,
                "shape": ["batch", *spec.shape],
                "layout": spec.layout,
                "dtype": "float32",
                "channels": spec.channels,
                "size": list(spec.size),
                "preprocessing": preprocessing,
            }
        ],
        "outputs": [{"name": OUTPUT_NAME, "shape": ["batch", dim], "dtype": "float32"}],
        "feature_dim": dim,
        "domain": config.domain,
        "method": config.method,
        "backbone": backbone,
        "input_size": config.input_size,
        "versions": {"sslcli": sslcli.__version__, "torch": torch.__version__},
    }


def export_encoder(
    run_dir: Path, fmt: str, out: Path | None = None, input_name: str | None = None
) -> ExportResult:
    """Write the encoder of ``run_dir`` (of ``input_name`` where it has one per input) as ``fmt``,
    and its sidecar ``<file>.json`` beside it."""
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    run = open_trained_run(run_dir)
    config, domain = run.config, run.domain
    encoder, dim = trained_encoder(run, input_name)  # verified; input_name checked
    specs = domain.inputs(config.input_size)
    name = input_name or next(iter(specs))
    backbone = backbone_names(config.backbone, list(specs))[name]
    preprocessing = domain.preprocessing(config.input_size)[name]
    record = describe(config, backbone, name, specs[name], preprocessing, dim, fmt)
    path = output_path(run_dir, fmt, out, input_name)
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(2, *specs[name].shape, generator=generator)  # (2, ...): a batch > 1
    check = torch.randn(3, *specs[name].shape, generator=generator)  # another batch size
    encoder = encoder.float().eval()
    if fmt == "onnx":
        write_onnx(encoder, example, name, path, check)
    elif fmt == "torchscript":
        write_torchscript(encoder, example, name, path, check)
    else:
        save_encoder(path, encoder, {EXPORT_SIDECAR_KEY: json.dumps(record)})
    sidecar = path.with_name(path.name + ".json")
    write_text_atomic(sidecar, json.dumps(record, indent=2) + "\n")
    return ExportResult(path, sidecar, record)
