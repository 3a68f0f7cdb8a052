"""``first_configs`` pins CUDA launches to the first autotune config (what gpu_check's correctness
part runs), and outside it the full list is tuned again; each choice is cached on its own."""

from __future__ import annotations

import triton
from sslcli.kernels import first_configs
from sslcli.kernels._triton import LazyKernel, config


def test_first_configs_pins_launches_to_the_first_config(monkeypatch):
    tuned = []
    monkeypatch.setattr(triton, "autotune", lambda configs, key: tuned.append(configs) or (lambda fn: fn))
    kernel = LazyKernel(
        lambda: None, {}, lambda block: [config(4, 2, BLOCK=block), config(8, 3, BLOCK=2 * block)], key=["M"]
    )
    monkeypatch.setattr(kernel, "_jit", lambda: "jitted")
    kernel._autotuned((16,))
    with first_configs():
        kernel._autotuned((16,))
    kernel._autotuned((16,))  # the full list again, from the cache
    assert [len(configs) for configs in tuned] == [2, 1]
    assert tuned[1][0].kwargs == {"BLOCK": 16} and tuned[1][0].num_warps == 4
