"""A SimCLR step whose loss turns NaN at a chosen call, for the non-finite-loss tests."""

from sslcli.methods import StepOutput
from sslcli.methods.simclr import SimCLR


def simclr_loss_nan_at(monkeypatch, call: int) -> None:
    """Patch ``SimCLR.forward`` so that its ``call``-th call (1-based) returns a NaN loss."""
    original, calls = SimCLR.forward, {"n": 0}

    def forward(self, views, ctx):
        calls["n"] += 1
        output = original(self, views, ctx)
        return StepOutput(output.loss * float("nan")) if calls["n"] == call else output

    monkeypatch.setattr(SimCLR, "forward", forward)
