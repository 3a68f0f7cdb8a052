"""What sslcli's kernel registry holds for each fused op (``sslcli.registry.KERNELS``, filled from the
``sslcli.kernels`` entry points in pyproject.toml, as a plug-in's kernels would be)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class FusedOp:
    """One fused op: the public function (Triton on CUDA tensors, ``reference`` elsewhere; see
    ``dispatch``) and its plain-torch reference, the test oracle."""

    name: str
    fused: Callable
    reference: Callable
    summary: str
