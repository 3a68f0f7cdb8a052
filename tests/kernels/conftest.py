"""Kernel tests run the Triton code: compiled on a CUDA device, else on CPU through the interpreter.

``TRITON_INTERPRET`` is set here, at import, before any kernel is jitted (sslcli.kernels jits on first
launch, so an earlier ``import torch`` or ``import sslcli`` is harmless).
"""

import os
import sys

import pytest
import torch

if "TRITON_INTERPRET" not in os.environ and not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"

INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
DEVICE = "cpu" if INTERPRET else "cuda"


def _triton_imported_compiled() -> bool:
    """True when triton.language was imported without TRITON_INTERPRET=1: its helpers (tl.sum, ...)
    are then compiled-only and cannot run in the interpreter."""
    language = sys.modules.get("triton.language")
    if language is None:
        return False
    from triton.runtime.interpreter import InterpretedFunction

    return not isinstance(language.standard.sum, InterpretedFunction)


TOO_LATE = INTERPRET and _triton_imported_compiled()


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
def interpreter_ready() -> None:
    if TOO_LATE:
        pytest.fail(
            "triton was imported before tests/kernels/conftest.py set TRITON_INTERPRET=1: "
            "export TRITON_INTERPRET=1 (CPU-only machines) or set it in a conftest that loads earlier"
        )


@pytest.fixture(autouse=True)
def force_triton(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every kernel test exercises the Triton path unless it sets SSLCLI_KERNELS itself."""
    monkeypatch.setenv("SSLCLI_KERNELS", "triton")
