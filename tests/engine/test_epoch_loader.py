"""One loader spans a run's epochs (its workers decode the next epoch before this one ends), and the
run still trains each epoch's own shuffled order, with the method's epoch hook before its first batch;
a method that draws each epoch from weights its training sets gets a loader per epoch."""

import pytest
from rich.console import Console

from sslcli.data.loader import epoch_batches
from sslcli.engine import trainer as trainer_module
from sslcli.engine.launch import pretrain
from sslcli.methods.simclr import SimCLR
from tests.conftest import write_digit_folder
from tests.engine.test_resume import assert_same_parameters, killed_then_resumed, tiny_config


def count_loaders(monkeypatch) -> list[int]:
    """The trainer's ``make_loader``, counting its calls (one entry each)."""
    made, original = [], trainer_module.make_loader

    def counted(*args):
        made.append(1)
        return original(*args)

    monkeypatch.setattr(trainer_module, "make_loader", counted)
    return made


def test_one_loader_trains_every_epoch_in_its_own_order(tmp_path, monkeypatch):
    data = write_digit_folder(tmp_path / "digits")  # 36 items: 4 batches of 8 an epoch
    config = tiny_config(data, tmp_path / "run", epochs=3, num_workers=2)
    made, trained, epoch_starts = count_loaders(monkeypatch), [], []
    forward = SimCLR.forward

    def record_batch(self, views, ctx):
        trained.append(sorted(ctx.indices.tolist()))
        return forward(self, views, ctx)

    monkeypatch.setattr(SimCLR, "forward", record_batch)
    monkeypatch.setattr(SimCLR, "on_epoch_start", lambda self, ctx: epoch_starts.append(len(trained)))
    pretrain(config, False, Console(quiet=True))

    expected = [
        sorted(p for _, p in batch)
        for epoch in range(3)
        for batch in epoch_batches(36, 8, config.seed, epoch)
    ]
    assert trained == expected
    assert epoch_starts == [0, 4, 8]  # each epoch's hook before its first batch, once
    assert len(made) == 1


@pytest.mark.parametrize("crash_at", [4, 5])  # the last batch of epoch 1, the first of epoch 2
def test_a_run_killed_near_an_epoch_end_resumes_exactly(tmp_path, monkeypatch, crash_at):
    data = write_digit_folder(tmp_path / "digits")
    whole, split = tmp_path / "whole", tmp_path / "split"
    pretrain(tiny_config(data, whole, epochs=3, num_workers=2), False, Console(quiet=True))
    killed_then_resumed(tiny_config(data, split, epochs=3, num_workers=2), crash_at, monkeypatch)
    assert_same_parameters(whole, split)


def test_a_method_that_draws_each_epoch_gets_a_loader_per_epoch(tmp_path, monkeypatch):
    data = write_digit_folder(tmp_path / "digits", per_class=8)  # 24 items: 3 batches an epoch
    made = count_loaders(monkeypatch)
    config = tiny_config(
        data, tmp_path / "run", epochs=3, method="deepcluster", backbone="resnet10",
        method_options={"num_clusters": 3},
    )  # fmt: skip
    pretrain(config, False, Console(quiet=True))
    assert len(made) == 3
