"""A run killed mid-epoch and resumed ends with exactly the parameters of an uninterrupted run."""

import pytest
import torch
from rich.console import Console

from sslcli.config import PretrainConfig
from sslcli.engine import trainer as trainer_module
from sslcli.engine.launch import pretrain
from sslcli.engine.opening import open_run
from sslcli.engine.run_setup import PreparedRun
from sslcli.engine.step import NonFiniteLossError
from sslcli.errors import UserError
from sslcli.methods.simclr import SimCLR
from sslcli.run_dir import CHECKPOINT
from tests.nan_loss import simclr_loss_nan_at


def tiny_config(data, out, **extra) -> PretrainConfig:
    values = dict(
        data=str(data),
        out=str(out),
        epochs=2,
        batch_size=8,
        input_size=16,
        num_workers=0,
        device="cpu",
        checkpoint_every=1,
        log_every=1,
        seed=3,
        warmup_epochs=0.5,
    )
    return PretrainConfig(**{**values, **extra})


def final_parameters(run_dir):
    saved = torch.load(run_dir / CHECKPOINT, weights_only=True)
    return saved["method"]


class Killed(Exception):
    pass


def killed_then_resumed(config: PretrainConfig, crash_at: int, monkeypatch) -> None:
    """Train ``config``, killed as its ``crash_at``-th batch starts, then resume it to the end."""
    quiet, calls, original = Console(quiet=True), {"n": 0}, SimCLR.forward

    def crash(self, views, ctx):
        calls["n"] += 1
        if calls["n"] == crash_at:
            raise Killed
        return original(self, views, ctx)

    monkeypatch.setattr(SimCLR, "forward", crash)
    with pytest.raises(Killed):
        pretrain(config, False, quiet)
    monkeypatch.setattr(SimCLR, "forward", original)
    pretrain(config, True, quiet)


def assert_same_parameters(whole_run, split_run) -> None:
    whole, split = final_parameters(whole_run), final_parameters(split_run)
    assert whole.keys() == split.keys()
    for name in whole:
        assert torch.equal(whole[name], split[name]), name


@pytest.mark.parametrize("accumulate", [1, 2])
def test_resume_after_a_crash_matches_an_uninterrupted_run(digit_folder, tmp_path, monkeypatch, accumulate):
    pretrain(tiny_config(digit_folder, tmp_path / "whole", accumulate=accumulate), False, Console(quiet=True))
    # killed mid-epoch 2: 36 items / batch 8 = 4 batches per epoch
    killed_then_resumed(tiny_config(digit_folder, tmp_path / "split", accumulate=accumulate), 7, monkeypatch)
    assert_same_parameters(tmp_path / "whole", tmp_path / "split")
    assert (tmp_path / "split" / "metrics.csv").read_text().count("\n") == (
        tmp_path / "whole" / "metrics.csv"
    ).read_text().count("\n")


def test_a_new_run_refuses_to_overwrite_and_resume_needs_a_checkpoint(digit_folder, tmp_path):
    quiet = Console(quiet=True)
    with pytest.raises(UserError, match="nothing to resume"):
        pretrain(tiny_config(digit_folder, tmp_path / "none"), True, quiet)
    pretrain(tiny_config(digit_folder, tmp_path / "run", epochs=1), False, quiet)
    with pytest.raises(UserError, match="already holds a run"):
        pretrain(tiny_config(digit_folder, tmp_path / "run", epochs=1), False, quiet)


def test_non_finite_loss_stops_before_the_optimizer_step(digit_folder, tmp_path, monkeypatch):
    quiet = Console(quiet=True)
    simclr_loss_nan_at(monkeypatch, call=3)
    snapshots = []
    monkeypatch.setattr(
        PreparedRun,
        "save",
        lambda self: snapshots.append({k: v.detach().clone() for k, v in self.method.named_parameters()}),
    )
    config = tiny_config(digit_folder, tmp_path / "r", checkpoint_every=1)
    trainer = trainer_module.Trainer(PreparedRun(open_run(config, None), quiet))
    with pytest.raises(NonFiniteLossError, match="step 3: loss is nan"):
        trainer.fit()
    assert trainer.run.state.step == 2 and len(snapshots) == 2
    after_two_steps = snapshots[-1]
    for name, value in trainer.run.method.named_parameters():
        assert torch.equal(value, after_two_steps[name]), name  # the NaN step updated no weight
