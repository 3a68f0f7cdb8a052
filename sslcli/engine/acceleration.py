"""What keeps a training device busy besides the data path: the channels-last layout of 4-D batches
and 2-D convolutions (CUDA), and ``--compile``: ``torch.compile`` of the encoder(s) the method trains."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch._dynamo.exc import BackendCompilerFailed

from sslcli.domains import Sample
from sslcli.errors import UserError


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
