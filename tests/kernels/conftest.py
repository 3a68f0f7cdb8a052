"""Kernel tests run the Triton code: compiled on a CUDA device, else on CPU through the interpreter.

``TRITON_INTERPRET`` is set here, at import, before any kernel is jitted (sslcli.kernels jits on first
launch, and runs Triton's helpers interpreted even if torch imported Triton earlier).
"""

import os

import pytest
import torch

if "TRITON_INTERPRET" not in os.environ and not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"

INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
DEVICE = "cpu" if INTERPRET else "cuda"


def _single_threaded_blas() -> None:
    """The interpreter runs tl.dot through NumPy; threaded OpenBLAS on tiny matmuls is ~100x slower."""
    import numpy  # noqa: F401  (load its BLAS so that the limit applies to it)

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1, user_api="blas")


if INTERPRET:
    _single_threaded_blas()


@pytest.fixture
def device() -> str:
    return DEVICE


@pytest.fixture(autouse=True)
def force_triton(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every kernel test exercises the Triton path unless it sets SSLCLI_KERNELS itself."""
    monkeypatch.setenv("SSLCLI_KERNELS", "triton")
