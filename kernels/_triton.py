"""Lazy Triton launching shared by the kernel files.

Triton fixes at ``@triton.jit`` time whether a kernel is compiled or run by its interpreter
(``TRITON_INTERPRET=1``). Kernels here are therefore plain functions jitted on their first launch:
the environment variable may be set after ``sslcli.kernels`` is imported, and the package imports
without Triton at all (every op then runs its plain-torch reference).

On CUDA a kernel is autotuned over its ``configs``; elsewhere (the interpreter) it runs with the
fixed, small ``interpreter_meta`` — several autotune configs need a GPU to time them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

try:
    import triton
except ImportError:  # the references cover every op
    triton = None

Grid = Callable[[dict], tuple[int, ...]]


def triton_available() -> bool:
    """True when Triton can be imported here."""
    return triton is not None


def cdiv(a: int, b: int) -> int:
    """Ceiling division (grid sizes)."""
    return -(-a // b)


def dot_precision(dtype: torch.dtype) -> str:
    """``tl.dot`` input precision: IEEE fp32 unless torch itself allows TF32 matmuls."""
    if dtype == torch.float32 and not torch.backends.cuda.matmul.allow_tf32:
        return "ieee"
    return "tf32"


class LazyKernel:
    """A Triton kernel jitted on first launch; autotuned on CUDA over ``configs(*variant)``."""

    def __init__(
        self,
        fn: Callable,
        interpreter_meta: dict,
        configs: Callable[..., list],
        key: Sequence[str],
        do_not_specialize: Sequence[str] = (),
    ) -> None:
        self.fn = fn
        self.do_not_specialize = list(do_not_specialize)
        self.interpreter_meta = interpreter_meta
        self.configs = configs
        self.key = list(key)
        self._jitted = None
        self._tuned: dict[tuple, object] = {}

    def _jit(self):
        if self._jitted is None:
            self._jitted = triton.jit(self.fn, do_not_specialize=self.do_not_specialize)
        return self._jitted

    def _autotuned(self, variant: tuple):
        if variant not in self._tuned:
            self._tuned[variant] = triton.autotune(configs=self.configs(*variant), key=self.key)(self._jit())
        return self._tuned[variant]

    def launch(self, grid: Grid, *args, on_cuda: bool, variant: tuple = (), **kwargs) -> None:
        """Run over ``grid(meta)``; ``variant`` selects the CUDA config list (e.g. the block of D)."""
        if on_cuda:
            self._autotuned(variant)[grid](*args, **kwargs)
            return
        meta = self.interpreter_meta
        _patch_interpreter_index()
        self._jit()[grid(meta)](*args, **kwargs, **meta)


def _patch_interpreter_index() -> None:
    """Let the interpreter loop over runtime bounds (``range(0, M, BLOCK)``) under NumPy >= 2.4.

    Triton 3.6's interpreter holds scalars as one-element arrays and indexes with ``int(array)``,
    which NumPy 2.4 rejects; ``int(array.item())`` is the same value on every NumPy.
    """
    from triton.runtime import interpreter

    original = getattr(interpreter, "_patch_lang_tensor", None)
    if original is None or getattr(original, "sslcli_shim", False):
        return

    def patched(tensor, scope) -> None:
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.item()))

    patched.sslcli_shim = True
    interpreter._patch_lang_tensor = patched


def config(num_warps: int, num_stages: int, **meta) -> object:
    """One ``triton.Config`` (built lazily: only called on CUDA)."""
    return triton.Config(meta, num_warps=num_warps, num_stages=num_stages)
