"""Method hooks through the real training engine: DeepCluster's per-epoch clustering and weighted
sampling survive a crash and resume exactly; MAE picks its ViT, writes its picture and reloads."""

import pytest
import torch
from click.testing import CliRunner
from rich.console import Console

from sslcli.cli import main
from sslcli.config import PretrainConfig
from sslcli.data.loader import epoch_batches
from sslcli.engine.domain_setup import configured_domain, lookup_method
from sslcli.engine.launch import pretrain
from sslcli.engine.setup import build_method
from sslcli.errors import UserError
from sslcli.jobs.encoder import load_encoder
from sslcli.methods import StepContext
from sslcli.methods.deepcluster import DeepCluster
from sslcli.registry import METHODS
from sslcli.run_dir import CHECKPOINT
from tests.conftest import as_views, write_digit_folder


def tiny_config(data, out, method, **extra) -> PretrainConfig:
    values = dict(
        data=str(data),
        out=str(out),
        method=method,
        epochs=2,
        batch_size=8,
        input_size=16,
        num_workers=0,
        device="cpu",
        checkpoint_every=1,
        log_every=1,
        seed=3,
    )
    return PretrainConfig(**{**values, **extra})


class Killed(Exception):
    pass


def test_deepcluster_resumes_mid_epoch_exactly(tmp_path, monkeypatch):
    data = write_digit_folder(tmp_path / "digits", per_class=8)  # 24 items: 3 batches per epoch
    options = dict(backbone="resnet10", method_options={"num_clusters": 3})
    quiet = Console(quiet=True)
    clusterings = []
    original_start = DeepCluster.on_epoch_start

    def record(self, ctx):
        original_start(self, ctx)
        clusterings.append(self.pseudo_labels.clone())

    monkeypatch.setattr(DeepCluster, "on_epoch_start", record)
    pretrain(tiny_config(data, tmp_path / "whole", "deepcluster", **options), False, quiet)
    assert len(clusterings) == 2 and all(len(labels) == 24 for labels in clusterings)

    calls = {"n": 0}
    original_step = DeepCluster.forward

    def crash_on_fifth(self, views, ctx):
        calls["n"] += 1
        if calls["n"] == 5:  # second batch of the second epoch
            raise Killed
        return original_step(self, views, ctx)

    monkeypatch.setattr(DeepCluster, "forward", crash_on_fifth)
    with pytest.raises(Killed):
        pretrain(tiny_config(data, tmp_path / "split", "deepcluster", **options), False, quiet)
    monkeypatch.setattr(DeepCluster, "forward", original_step)
    clusterings.clear()
    pretrain(tiny_config(data, tmp_path / "split", "deepcluster", **options), True, quiet)
    assert clusterings == []  # resumed mid-epoch: the saved pseudo-labels are used, not re-clustered

    whole, split = (
        torch.load(tmp_path / run / CHECKPOINT, weights_only=True)["method"] for run in ("whole", "split")
    )
    assert whole.keys() == split.keys()
    for name in whole:
        assert torch.equal(whole[name], split[name]), name


def test_weighted_epoch_order_is_reproducible_and_follows_the_weights():
    weights = torch.tensor([1.0, 0.0, 3.0, 0.0])
    first = epoch_batches(len(weights), 2, seed=1, epoch=4, weights=weights)
    assert first == epoch_batches(len(weights), 2, seed=1, epoch=4, weights=weights)
    positions = [p for batch in first for _, p in batch]
    assert len(positions) == 4 and set(positions) <= {0, 2}
    assert all(epoch == 4 for batch in first for epoch, _ in batch)


def test_mae_trains_a_vit_writes_its_reconstruction_and_reloads(tmp_path):
    data = write_digit_folder(tmp_path / "digits", per_class=6)
    run = tmp_path / "mae"
    config = tiny_config(data, run, "mae", epochs=1, method_options={"decoder_depth": 1})
    pretrain(config, False, Console(quiet=True))
    assert (run / "plots" / "mae_reconstruction.png").stat().st_size > 0
    encoder, saved, dim = load_encoder(run)
    assert saved.backbone == "vit_tiny" and dim == 192
    assert encoder(torch.randn(2, 3, 16, 16)).shape == (2, 192)


def test_unsupported_domain_is_one_line_listing_what_works():
    with pytest.raises(UserError) as err:
        lookup_method("colorization", configured_domain("sonar"))
    assert "unknown domain 'sonar'" in str(err.value) and "natural" in str(err.value)
    with pytest.raises(UserError) as err:
        lookup_method(
            "colorization", configured_domain("audio")
        )  # spectrograms: the methods that accept them are listed
    assert "(spectrogram inputs)" in str(err.value) and "methods for 'audio': barlow_twins, byol, cpc" in str(
        err.value
    )
    with pytest.raises(UserError) as err:
        lookup_method(
            "colorization", configured_domain("medical")
        )  # needs colour; medical channels are windows
    message = str(err.value)
    assert "\n" not in message and "accepts: image2d in colour" in message
    assert "rotnet" in message and "colorization" not in message.split("methods for")[1]


def test_methods_command_lists_every_method_and_show_gives_family_paper_and_input_kinds():
    result = CliRunner().invoke(main, ["methods"])
    assert result.exit_code == 0
    for name, cls in METHODS.items():
        line = next(line for line in result.output.splitlines() if f" {name} " in line)
        assert cls.description.split(":")[0] in line  # its kind
        shown = CliRunner().invoke(main, ["methods", "--show", name], env={"COLUMNS": "400"}).output
        assert cls.family in shown and cls.paper in shown and all(kind in shown for kind in cls.accepts)


def test_mae_draws_no_sample_pixels_where_the_data_may_identify_people(tmp_path):
    config = tiny_config(
        tmp_path, tmp_path / "run", "mae", backbone="vit_tiny", method_options={"decoder_depth": 1}
    )
    mae = build_method(config, configured_domain(config.domain, config.views))
    mae(as_views([torch.randn(4, 3, 16, 16)]), StepContext())  # keeps a preview of the batch
    assert mae.on_train_end(show_samples=False) == {}
    pictures = mae.on_train_end(show_samples=True)
    assert list(pictures) == ["mae_reconstruction"] and pictures["mae_reconstruction"].shape[0] == 3
