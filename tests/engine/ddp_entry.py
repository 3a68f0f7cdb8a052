"""``sslcli`` with a test-only domain registered, for the torchrun tests (test_distributed_training.py).

Usage: python ddp_entry.py [--kill-after-step N [--kill-rank R]] SSLCLI_ARGS...

The domain's views are the input itself (no random augmentation) and its default backbone is a ViT
(layer norm, no batch norm), so that ranks holding parts of a batch compute what one process holding
all of it does. ``--kill-after-step N`` SIGKILLs rank 0 (``--kill-rank R``: rank R) right after optimizer
step N, as a crash would.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np
import torch
from sslcli.domains import BadItemError, Domain, InputSpec, Item, Sample

from sslcli.registry import DOMAINS

SHAPE = (1, 16, 16)


class GridDomain(Domain):
    name = "toy_grid"
    description = "test-only: one-channel 16 x 16 arrays, views without augmentation"
    default_input_size = 16
    default_backbone = "vit_tiny_p8"

    def inputs(self, input_size: int) -> dict[str, InputSpec]:
        return {"grid": InputSpec("image2d", SHAPE[0], SHAPE[1:])}

    def discover(self, root: Path) -> list[Item]:
        return [Item(p.name, p, p.name) for p in sorted(root.glob("*.npy"))]

    def load(self, item: Item, inputs=None) -> Sample:
        array = np.load(item.path, allow_pickle=False)
        if array.shape != SHAPE:
            raise BadItemError(f"expected shape {SHAPE}, got {array.shape}")
        return {"grid": torch.from_numpy(array)}

    def augment(self, input_size: int, options):
        return lambda grid: grid.clone()

    def eval_transform(self, input_size: int):
        return lambda grid: grid


class SpectrogramGridDomain(GridDomain):
    """The same arrays as spectrograms (16 bands x 16 frames), for methods over time steps (CPC)."""

    name = "toy_spectrogram"

    def inputs(self, input_size: int) -> dict[str, InputSpec]:
        return {"grid": InputSpec("spectrogram", SHAPE[0], SHAPE[1:])}


def write_grids(folder: Path, count: int) -> Path:
    """``count`` arrays of two kinds (horizontal and vertical stripes, random phase, noise)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ramp = np.arange(SHAPE[1])
    for i in range(count):
        stripes = np.sin(ramp * (0.5 + i % 2) + rng.uniform(0, 6.3))
        grid = stripes[None, :, None] if i % 2 else stripes[None, None, :]
        noisy = np.broadcast_to(grid, SHAPE) + 0.2 * rng.standard_normal(SHAPE)
        np.save(folder / f"{i:03d}.npy", noisy.astype(np.float32))
    return folder


def kill_after(step: int, rank: int) -> None:
    """Make ``rank`` SIGKILL itself right after optimizer step ``step``."""
    from sslcli.engine.trainer import Trainer

    take_step = Trainer._optimizer_step

    def step_then_die(self, lr: float) -> None:
        take_step(self, lr)
        if self.run.state.step == step and self.run.world.rank == rank:
            os.kill(os.getpid(), signal.SIGKILL)

    Trainer._optimizer_step = step_then_die


def entry_options(args: list[str]) -> tuple[dict[str, int], list[str]]:
    """The leading ``--kill-after-step N`` and ``--kill-rank R`` of ``args``, and the sslcli arguments."""
    options = {}
    while args[:1] in (["--kill-after-step"], ["--kill-rank"]):
        options[args[0]], args = int(args[1]), args[2:]
    return options, args


if __name__ == "__main__":
    options, args = entry_options(sys.argv[1:])
    if "--kill-after-step" in options:
        kill_after(options["--kill-after-step"], options.get("--kill-rank", 0))
    for domain in (GridDomain, SpectrogramGridDomain):
        DOMAINS.add(domain.name, domain, origin="tests/engine/ddp_entry.py")
    from sslcli.cli import main

    main(args, prog_name="sslcli")
