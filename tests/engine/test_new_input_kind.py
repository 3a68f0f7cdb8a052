"""A new input kind, defined in this file alone: one-channel 3-D arrays (D x H x W, a stack of slices)
with their domain and a 3-D convolutional encoder registered here. SimCLR, BYOL and VICReg pretrain on
it, and the trained run embeds and evaluates, through the CLI and with no edit to any sslcli file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from sslcli.domains import BadItemError, Domain, InputSpec, Item, Sample

from sslcli.models import EncoderFamily
from sslcli.models.protocol import refuse_mask
from sslcli.registry import DOMAINS, ENCODERS
from tests.conftest import invoke

KIND = "stack3d"
SHAPE = (1, 8, 12, 12)  # (C, D, H, W)
PER_CLASS = 10


class StackDomain(Domain):
    """Stacks stored as .npy arrays of SHAPE; views flip each spatial axis, scale the gain, add noise."""

    name = "toy_stacks"
    description = "test-only: one-channel 8 x 12 x 12 stacks"
    default_input_size = SHAPE[-1]
    default_backbone = "toy_conv3d"

    def inputs(self, input_size: int) -> dict[str, InputSpec]:
        return {"stack": InputSpec(KIND, SHAPE[0], SHAPE[1:], layout="CDHW")}

    def discover(self, root: Path) -> list[Item]:
        return [
            Item(p.relative_to(root).as_posix(), p, p.relative_to(root).as_posix())
            for p in sorted(root.rglob("*.npy"))
        ]

    def load(self, item: Item, inputs=None) -> Sample:
        array = np.load(item.path, allow_pickle=False)
        if array.shape != SHAPE:
            raise BadItemError(f"expected shape {SHAPE}, got {array.shape}")
        return {"stack": torch.from_numpy(array.astype(np.float32))}

    def augment(self, input_size: int, options):
        def view(stack: torch.Tensor) -> torch.Tensor:  # (1, D, H, W) -> (1, D, H, W)
            flips = [axis for axis in (1, 2, 3) if torch.rand(()) < 0.5]
            flipped = stack.flip(flips) if flips else stack
            return flipped * torch.empty(()).uniform_(0.8, 1.25) + 0.05 * torch.randn_like(stack)

        return view

    def eval_transform(self, input_size: int):
        return lambda stack: stack


class Conv3dEncoder(nn.Module):
    """(B, 1, D, H, W) -> (B, 32): two 3-D convolutions, features averaged over the remaining voxels."""

    def __init__(self, channels: int):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv3d(channels, 16, 3, padding=1), nn.BatchNorm3d(16), nn.ReLU(),
            nn.Conv3d(16, 32, 3, stride=2, padding=1), nn.BatchNorm3d(32), nn.ReLU(),
        )  # fmt: skip

    def tokens(self, stacks: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        refuse_mask(mask, "toy_conv3d")
        return self.convs(stacks).flatten(2).transpose(1, 2)  # (B, d * h * w, 32)

    def forward(self, stacks: torch.Tensor) -> torch.Tensor:
        return self.tokens(stacks).mean(dim=1)  # (B, 32)


CONV3D = EncoderFamily(
    "toy_conv3d",
    (KIND,),
    "toy_conv3d",
    lambda name, spec: (Conv3dEncoder(spec.channels), 32),
    ("toy_conv3d",),
)


@pytest.fixture
def stacks(tmp_path, register) -> Path:
    """Two classes of stacks (a bright ball, a bright slab, in noise) in class folders; the domain and
    its encoder registered."""
    register(DOMAINS, StackDomain)
    register(ENCODERS, CONV3D)
    rng = np.random.default_rng(0)
    d, h, w = np.meshgrid(*(np.arange(n) for n in SHAPE[1:]), indexing="ij")
    for label in ("ball", "slab"):
        for i in range(PER_CLASS):
            centre = rng.uniform(3, 8, size=3)
            if label == "ball":
                shape = ((d - centre[0]) ** 2 + (h - centre[1]) ** 2 + (w - centre[2]) ** 2) < 9
            else:
                shape = np.abs(h - centre[1]) < 1.5
            stack = shape[None].astype(np.float32) + 0.2 * rng.standard_normal(SHAPE)
            (tmp_path / "stacks" / label).mkdir(parents=True, exist_ok=True)
            np.save(tmp_path / "stacks" / label / f"{i}.npy", stack.astype(np.float32))
    return tmp_path / "stacks"


@pytest.mark.parametrize("method", ["simclr", "byol", "vicreg"])
def test_a_kind_defined_in_a_test_trains_embeds_and_evaluates(stacks, tmp_path, method):
    run, embeddings = tmp_path / "run", tmp_path / "emb"
    trained = invoke(
        "pretrain", "--domain", StackDomain.name, "--method", method, "--data", stacks, "--out", run,
        "--epochs", "2", "--batch-size", "8", "--num-workers", "0", "--device", "cpu", "--logger", "none",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert json.loads((run / "config.json").read_text())["config"]["backbone"] == "toy_conv3d"
    embedded = invoke("embed", "--run", run, "--data", stacks, "--out", embeddings)
    assert embedded.exit_code == 0, embedded.output
    vectors = np.load(next(embeddings.glob("*.npy")))
    assert vectors.shape == (2 * PER_CLASS, 32) and np.isfinite(vectors).all()
    evaluated = invoke("eval", "--run", run, "--data", stacks, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    scores = json.loads(evaluated.output[evaluated.output.index("{") :])
    assert scores["n_train"] + scores["n_test"] == 2 * PER_CLASS and scores["classes"] == 2
    assert all(0.0 <= scores[encoder]["knn"] <= 1.0 for encoder in ("pretrained", "random_init", "raw_input"))
