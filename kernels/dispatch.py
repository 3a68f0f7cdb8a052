"""Choose between a Triton kernel and its plain-torch reference.

Triton runs on CUDA tensors, the reference everywhere else. ``SSLCLI_KERNELS=triton`` or
``SSLCLI_KERNELS=reference`` forces one (``triton`` on CPU tensors needs ``TRITON_INTERPRET=1``).
"""

import os

import torch

_CHOICES = ("auto", "triton", "reference")


def use_triton(tensor: torch.Tensor) -> bool:
    """True when the op on ``tensor`` should run its Triton kernel."""
    choice = os.environ.get("SSLCLI_KERNELS", "auto").strip().lower() or "auto"
    if choice not in _CHOICES:
        raise ValueError(f"SSLCLI_KERNELS={choice!r}: expected one of {', '.join(_CHOICES)}")
    if choice == "auto":
        return tensor.is_cuda
    return choice == "triton"
