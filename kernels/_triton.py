"""Lazy Triton launching shared by the kernel files.

Triton fixes whether kernels are compiled or run by its interpreter (``TRITON_INTERPRET=1``) when
``triton.language`` is imported (its own helpers such as ``tl.sum`` are jitted then) and when a
kernel is jitted. Nothing here imports Triton before the first launch: kernel modules keep their
kernels as plain functions with a placeholder global ``tl``, and ``LazyKernel`` binds ``tl`` and
jits the function on first use. So the environment variable may be set after ``sslcli.kernels`` is
imported, and the package imports without Triton at all (every op then runs its reference).

On CUDA a kernel is autotuned over its ``configs``; elsewhere (the interpreter) it runs with the
fixed, small ``interpreter_meta`` — several autotune configs need a GPU to time them.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Sequence

import torch

Grid = Callable[[dict], tuple[int, ...]]


def triton_available() -> bool:
    """True when Triton can be imported here."""
    return importlib.util.find_spec("triton") is not None


def cdiv(a: int, b: int) -> int:
    """Ceiling division (grid sizes)."""
    return -(-a // b)


def dot_precision(dtype: torch.dtype) -> str:
    """``tl.dot`` input precision for fp32 tiles: TF32 where torch allows TF32 matmuls, else
    ``tf32x3`` (three TF32 products, about fp32's accuracy on the tensor cores). IEEE fp32 dots run
    on the CUDA cores and spill registers heavily in the InfoNCE kernels; tf32x3 spills about as little
    as bf16 (``benchmarks/kernel_registers.py``). Half-precision tiles ignore it."""
    if dtype == torch.float32 and not torch.backends.cuda.matmul.allow_tf32:
        return "tf32x3"
    return "tf32"


_PINNED = {"first_config": False}  # set by ``first_configs``


@contextlib.contextmanager
def first_configs():
    """Within the block, CUDA launches take the first config of each list instead of autotuning (a
    correctness check that must not spend minutes benchmarking tiles, and tests the same tiles each
    time)."""
    _PINNED["first_config"] = True
    try:
        yield
    finally:
        _PINNED["first_config"] = False


class LazyKernel:
    """A Triton kernel jitted on first launch, with the ``helpers`` it calls (plain functions of its
    module, replaced there by their jitted selves); autotuned on CUDA over ``configs(*variant)``, or
    run with the first of them inside ``first_configs``."""

    def __init__(
        self,
        fn: Callable,
        interpreter_meta: dict,
        configs: Callable[..., list],
        key: Sequence[str],
        do_not_specialize: Sequence[str] = (),
        helpers: Sequence[Callable] = (),
    ) -> None:
        self.fn = fn
        self.helpers = tuple(helpers)
        self.do_not_specialize = list(do_not_specialize)
        self.interpreter_meta = interpreter_meta
        self.configs = configs
        self.key = list(key)
        self._jitted = None
        self._tuned: dict[tuple, object] = {}

    def _jit(self):
        if self._jitted is None:
            import triton
            import triton.language

            self.fn.__globals__["tl"] = triton.language  # the kernel module's placeholder
            for helper in self.helpers:  # device functions the kernel calls by their module name
                self.fn.__globals__[helper.__name__] = triton.jit(helper)
            self._jitted = triton.jit(self.fn, do_not_specialize=self.do_not_specialize)
        return self._jitted

    def _autotuned(self, variant: tuple):
        pinned = _PINNED["first_config"]
        if (variant, pinned) not in self._tuned:
            import triton

            configs = self.configs(*variant)[:1] if pinned else self.configs(*variant)
            self._tuned[variant, pinned] = triton.autotune(configs=configs, key=self.key)(self._jit())
        return self._tuned[variant, pinned]

    def launch(self, grid: Grid, *args, on_cuda: bool, variant: tuple = (), **kwargs) -> None:
        """Run over ``grid(meta)``; ``variant`` selects the CUDA config list (e.g. the block of D)."""
        if on_cuda:
            self._autotuned(variant)[grid](*args, **kwargs)
            return
        meta = self.interpreter_meta
        _patch_interpreter()
        self._jit()[grid(meta)](*args, **kwargs, **meta)


def _patch_interpreter() -> None:
    """Two shims that let Triton 3.6's interpreter run these kernels in any process.

    * Runtime loop bounds (``range(0, M, BLOCK)``): the interpreter holds scalars as one-element
      arrays and indexes with ``int(array)``, which NumPy >= 2.4 rejects; ``.item()`` works on all.
    * Triton's own helpers (``tl.sum``, ``tl.max``, ``tl.rand``, ...) are compiled-only
      ``JITFunction`` objects when ``triton.language`` was imported before ``TRITON_INTERPRET=1``
      (torch imports it for its optimizers and torch.compile); called from an interpreted kernel
      they now run interpreted as well.
    """
    from triton.runtime import interpreter
    from triton.runtime.jit import JITFunction

    original = getattr(interpreter, "_patch_lang_tensor", None)
    if original is None or getattr(original, "sslcli_shim", False):
        return
    interpreted: dict[int, interpreter.InterpretedFunction] = {}  # by id: hashing a JITFunction parses it

    def call_interpreted(fn: JITFunction, *args, **kwargs):
        if id(fn) not in interpreted:
            interpreted[id(fn)] = interpreter.InterpretedFunction(fn.fn)
        return interpreted[id(fn)](*args, **kwargs)

    def patched(tensor, scope) -> None:
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.item()))
        scope.set_attr(JITFunction, "__call__", call_interpreted)

    patched.sslcli_shim = True
    interpreter._patch_lang_tensor = patched


def config(num_warps: int, num_stages: int, **meta) -> object:
    """One ``triton.Config`` (built lazily: only called on CUDA)."""
    import triton

    return triton.Config(meta, num_warps=num_warps, num_stages=num_stages)
