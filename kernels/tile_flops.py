"""The FLOP the kernels' ``tl.dot`` calls execute, counted under Triton's interpreter
(``TRITON_INTERPRET=1``) from the tiles each program actually multiplies, padding included: how the
benchmarks and tests measure the passes a loss makes over its similarity matrix."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def counted_dot_flops() -> Iterator[dict]:
    """Within the block, ``counter["flop"]`` adds 2 m n k for every (m, k) x (k, n) tile product."""
    if os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError("counting dot FLOP needs Triton's interpreter: set TRITON_INTERPRET=1 first")
    from triton.runtime.interpreter import InterpreterBuilder

    counter = {"flop": 0}
    original = InterpreterBuilder.create_dot

    def counting(self, a, b, d, *args):
        (m, k), n = a.data.shape[-2:], b.data.shape[-1]
        counter["flop"] += 2 * m * n * k
        return original(self, a, b, d, *args)

    InterpreterBuilder.create_dot = counting
    try:
        yield counter
    finally:
        InterpreterBuilder.create_dot = original
