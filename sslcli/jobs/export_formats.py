"""The ONNX and TorchScript writers of ``sslcli export``, each checked against the encoder it exports.

ONNX uses torch.onnx's ``torch.export``-based exporter (the default since torch 2.9; the TorchScript-
based one is deprecated), which needs the optional ``onnx`` and ``onnxscript``; TorchScript uses
``torch.jit.trace``. The batch axis stays dynamic: each file is run at another batch size than it was
traced with and must match the encoder in plain torch (ONNX where ``onnxruntime`` is installed).
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from sslcli.engine.state_checks import one_line
from sslcli.errors import UserError
from sslcli.run_dir import atomic_write

OUTPUT_NAME = "features"  # the exported graphs' output: (batch, feature_dim) float32
INSTALL_HINT = 'pip install "sslcli[export]"'
CHECK_ATOL = 1e-4  # exported vs plain-torch features (float32)


def require(modules: tuple[str, ...], fmt: str) -> None:
    """Import the optional ``modules`` a format needs, or stop with one line saying how to install them."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"--format {fmt} needs {' and '.join(missing)}: {INSTALL_HINT}")


def check_outputs(
    fmt: str, run: Callable[[torch.Tensor], np.ndarray], encoder: torch.nn.Module, x: torch.Tensor
) -> None:
    """Stop if the exported ``run`` differs from ``encoder`` on ``x`` (a batch size it was not traced at)."""
    with torch.inference_mode():
        expected = encoder(x).numpy()  # (B, F)
    got = run(x)  # (B, F)
    worst = float(np.abs(got - expected).max()) if got.shape == expected.shape else float("inf")
    if not worst <= CHECK_ATOL:
        raise UserError(
            f"the {fmt} export does not reproduce the encoder (max difference {worst:.3g} on a batch of "
            f"{x.shape[0]}, shape {got.shape} vs {expected.shape}); export as safetensors instead"
        )


def write_onnx(
    encoder: torch.nn.Module, example: torch.Tensor, input_name: str, path: Path, check: torch.Tensor
) -> None:
    """An ONNX graph taking ``input_name`` (batch, ...) to ``OUTPUT_NAME`` (batch, F), weights inside."""
    require(("onnx", "onnxscript"), "onnx")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.export's own deprecation notices
            program = torch.onnx.export(
                encoder,
                (example,),
                input_names=[input_name],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                dynamo=True,
                verbose=False,
            )
    except torch.onnx.errors.OnnxExporterError as err:
        raise UserError(f"torch.onnx could not export the encoder ({one_line(err)[:300]})") from None
    atomic_write(path, lambda tmp: program.save(tmp, external_data=False))
    if importlib.util.find_spec("onnxruntime") is None:
        return
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    check_outputs("onnx", lambda x: session.run(None, {input_name: x.numpy()})[0], encoder, check)


def write_torchscript(
    encoder: torch.nn.Module, example: torch.Tensor, input_name: str, path: Path, check: torch.Tensor
) -> None:
    """A traced TorchScript module (``torch.jit.load``), (batch, ...) -> (batch, F)."""
    with torch.inference_mode(False), torch.no_grad():
        traced = torch.jit.trace(encoder, example)
    atomic_write(path, lambda tmp: torch.jit.save(traced, tmp))
    loaded = torch.jit.load(str(path))

    def run(x: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return loaded(x).numpy()

    check_outputs("torchscript", run, encoder, check)
