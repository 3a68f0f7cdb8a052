"""What keeps a training device busy besides the data path: bf16 autocast where the device computes
it natively, the channels-last layout of 4-D batches and 2-D convolutions, and ``--compile``:
``torch.compile`` of the encoder(s) the method trains.

On a CPU with AMX matrix units (Intel Xeon 4th generation and later) oneDNN runs bf16 convolutions and
matrix products several times faster than fp32: one training step of the recipes' encoders took
1.3-2.5x less time (BENCHMARKS.md, "bf16 on a CPU"), so a time budget holds that many more steps.
Channels-last suits oneDNN's convolutions as it suits CUDA's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch._dynamo.exc import BackendCompilerFailed

from sslcli.domains import Sample
from sslcli.errors import UserError


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles (torch reports it; False where torch cannot tell)."""
    return bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())


def trains_in_bf16(device: torch.device, precision: str) -> bool:
    """``--precision``: ``auto`` is bf16 on CUDA and on a CPU with AMX, fp32 elsewhere."""
    if precision == "auto":
        return device.type == "cuda" or (device.type == "cpu" and cpu_has_amx())
    return precision == "bf16"


def training_autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The training step's autocast: bf16 (``trains_in_bf16``) or none."""
    if trains_in_bf16(device, precision):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def channels_last_convolutions(module: torch.nn.Module) -> None:
    """Every 2-D convolution's weight in channels-last layout (NHWC), in place; 3-D ones (video
    encoders) keep theirs. Names, shapes and values are unchanged, so are checkpoints."""
    for layer in module.modules():
        if isinstance(layer, torch.nn.Conv2d):
            layer.to(memory_format=torch.channels_last)


def channels_last_views(views: list[Sample]) -> list[Sample]:
    """Each 4-D input (B, C, H, W) in channels-last layout; other inputs (clips) as they are."""

    def nhwc(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.contiguous(memory_format=torch.channels_last) if tensor.ndim == 4 else tensor

    return [{name: nhwc(tensor) for name, tensor in view.items()} for view in views]


def compile_encoders(backbone: torch.nn.Module) -> None:
    """``torch.compile`` each encoder's call in place (``Module.compile``): the stored modules stay,
    so parameter names in checkpoints and ``encoder.safetensors`` are the encoders' own. Compiles
    lazily, in the first step; momentum copies and heads run eagerly."""
    encoders = backbone.values() if isinstance(backbone, torch.nn.ModuleDict) else [backbone]
    for encoder in encoders:
        encoder.compile()


@contextlib.contextmanager
def compile_failures(device: torch.device) -> Iterator[None]:
    """``--compile``'s compiler backend failing (inductor without a C++ compiler on the CPU) stops the
    run in one line instead of a traceback (nothing else in a step is compiled)."""
    try:
        yield
    except BackendCompilerFailed as err:
        lines = str(err).strip().splitlines()
        reason = lines[0] if lines else type(err).__name__
        raise UserError(
            f"--compile: torch.compile failed on {device.type} ({reason}); run without --compile"
        ) from None
