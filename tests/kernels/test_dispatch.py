"""SSLCLI_KERNELS picks Triton or the reference; auto means Triton exactly on CUDA tensors."""

import pytest
import torch
from sslcli.kernels.dispatch import use_triton


@pytest.mark.parametrize(
    ("choice", "expected"), [("triton", True), ("reference", False), (" Reference ", False)]
)
def test_forced_choice(monkeypatch, choice, expected):
    monkeypatch.setenv("SSLCLI_KERNELS", choice)
    assert use_triton(torch.zeros(1)) is expected


@pytest.mark.parametrize("choice", ["auto", ""])
def test_auto_follows_the_device(monkeypatch, choice):
    monkeypatch.setenv("SSLCLI_KERNELS", choice)
    assert use_triton(torch.zeros(1)) is False
    if torch.cuda.is_available():
        assert use_triton(torch.zeros(1, device="cuda")) is True


def test_unknown_choice_is_an_error(monkeypatch):
    monkeypatch.setenv("SSLCLI_KERNELS", "cuda")
    with pytest.raises(ValueError, match="auto, triton, reference"):
        use_triton(torch.zeros(1))
