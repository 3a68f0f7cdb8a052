"""A new modality is one file: a toy domain defined here, with non-square one-channel samples
(1 x 40 x 96, like a short log-mel strip), trains SimCLR, BYOL, VICReg, MAE and the pixel-target
pretext tasks end to end through the engine without any method, model or engine file naming it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console
from sslcli.domains import BadItemError, Domain, InputSpec, Item, Sample

from sslcli.config import PretrainConfig
from sslcli.engine.launch import pretrain
from sslcli.jobs.encoder import load_encoder
from sslcli.methods.simclr import SimCLR
from sslcli.registry import DOMAINS

SHAPE = (1, 40, 96)  # (channels, rows, columns)


class StripDomain(Domain):
    """Strips stored as .npy arrays of SHAPE; views shift in time, scale the gain and add noise."""

    name = "toy_strip"
    description = "test-only: one-channel 40 x 96 strips"
    default_input_size = 40
    default_backbone = "resnet10"

    def inputs(self, input_size: int) -> dict[str, InputSpec]:
        return {"strip": InputSpec("image2d", SHAPE[0], SHAPE[1:])}

    def discover(self, root: Path) -> list[Item]:
        return [
            Item(p.relative_to(root).as_posix(), p, p.relative_to(root).as_posix())
            for p in sorted(root.rglob("*.npy"))
        ]

    def load(self, item: Item, inputs=None) -> Sample:
        array = np.load(item.path, allow_pickle=False)
        if array.shape != SHAPE:
            raise BadItemError(f"expected shape {SHAPE}, got {array.shape}")
        return {"strip": torch.from_numpy(array.astype(np.float32))}

    def augment(self, input_size: int, options):
        def view(strip: torch.Tensor) -> torch.Tensor:  # (1, 40, 96) -> (1, 40, 96)
            shifted = torch.roll(strip, int(torch.randint(-8, 9, ())), dims=-1)
            gain = torch.empty(()).uniform_(0.8, 1.25)
            return shifted * gain + 0.05 * torch.randn_like(strip)

        return view

    def eval_transform(self, input_size: int):
        return lambda strip: strip


@pytest.fixture
def strips(tmp_path, register) -> Path:
    """Two classes of strips (low and high frequency stripes with noise), and the domain registered."""
    register(DOMAINS, StripDomain)
    rng = np.random.default_rng(0)
    columns = np.arange(SHAPE[2])
    for label, frequency in (("low", 2), ("high", 9)):
        for i in range(12):
            phase = rng.uniform(0, 2 * np.pi)
            strip = np.sin(2 * np.pi * frequency * columns / SHAPE[2] + phase)[None, None, :]
            strip = np.broadcast_to(strip, SHAPE) + 0.1 * rng.standard_normal(SHAPE)
            (tmp_path / "strips" / label).mkdir(parents=True, exist_ok=True)
            np.save(tmp_path / "strips" / label / f"{i}.npy", strip.astype(np.float32))
    return tmp_path / "strips"


@pytest.mark.parametrize(
    ("method", "backbone"),
    [
        ("simclr", "resnet10"),
        ("byol", "resnet10"),
        ("vicreg", "resnet10"),
        ("mae", "vit_tiny_p8"),
        ("denoising", "resnet10"),  # pixel targets: a 1-channel 40 x 96 decoder
        ("inpainting", "resnet10"),
        ("super_resolution", "resnet10"),
    ],
)
def test_a_one_channel_non_square_domain_trains_every_kind_of_method(strips, tmp_path, method, backbone):
    run = tmp_path / "run"
    config = PretrainConfig(
        domain=StripDomain.name,
        method=method,
        data=str(strips),
        out=str(run),
        backbone=backbone,
        epochs=1,
        batch_size=8,
        num_workers=0,
        device="cpu",
    )
    result = pretrain(config, None, Console(quiet=True))
    assert result.state.step == 3 and np.isfinite(result.state.last_loss)  # 24 strips / batch 8
    encoder, _, feature_dim = load_encoder(run)
    features = encoder(torch.randn(2, *SHAPE))  # (2, F): the encoder takes the domain's own shape
    assert features.shape == (2, feature_dim) and torch.isfinite(features).all()


class BandMaskedStrips(StripDomain):
    """The strips domain plus a batch-level augmentation on the training device: rows 10-19 zeroed."""

    name = "toy_strip_masked"
    seen: list[list[tuple[int, ...]]] = []

    def batch_augment(self, views):
        BandMaskedStrips.seen.append([tuple(view["strip"].shape) for view in views])
        return [{"strip": view["strip"].index_fill(2, torch.arange(10, 20), 0.0)} for view in views]


def test_the_domains_batch_augmentation_runs_on_every_batch_before_the_method(
    strips, tmp_path, monkeypatch, register
):
    register(DOMAINS, BandMaskedStrips)
    given = []
    forward = SimCLR.forward

    def recording_forward(self, views, ctx):
        given.append([view["strip"][:, :, 10:20].abs().max().item() for view in views])
        return forward(self, views, ctx)

    monkeypatch.setattr(SimCLR, "forward", recording_forward)
    config = PretrainConfig(
        domain=BandMaskedStrips.name, method="simclr", data=str(strips), out=str(tmp_path / "run"),
        backbone="resnet10", epochs=1, batch_size=8, num_workers=0, device="cpu",
    )  # fmt: skip
    pretrain(config, None, Console(quiet=True))
    assert BandMaskedStrips.seen == [[(8, *SHAPE)] * 2] * 3  # 3 steps of two views
    assert given == [[0.0, 0.0]] * 3  # the method trained on the masked batches
