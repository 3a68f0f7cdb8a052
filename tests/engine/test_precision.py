"""``--precision``: auto trains in bf16 where the device computes it natively (CUDA, a CPU with AMX)
and in fp32 elsewhere; the training step runs under the autocast asked for."""

import pytest
import torch
from rich.console import Console

from sslcli.engine.acceleration import trains_in_bf16
from sslcli.engine.launch import pretrain
from sslcli.methods.simclr import SimCLR
from tests.engine.test_resume import tiny_config

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


@pytest.mark.parametrize("amx", [True, False])
def test_auto_is_bf16_on_cuda_and_on_a_cpu_with_amx(monkeypatch, amx):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert trains_in_bf16(CPU, "auto") is amx
    assert trains_in_bf16(CUDA, "auto")
    assert trains_in_bf16(CPU, "bf16") and trains_in_bf16(CUDA, "bf16")
    assert not trains_in_bf16(CPU, "fp32") and not trains_in_bf16(CUDA, "fp32")


@pytest.mark.parametrize(("precision", "encoder_dtype"), [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_the_training_step_encodes_in_the_precision_asked(
    digit_folder, tmp_path, monkeypatch, precision, encoder_dtype
):
    seen, forward = [], SimCLR.forward

    def record(self, views, ctx):
        seen.append(self.backbone(views[0]["image"]).dtype)
        return forward(self, views, ctx)

    monkeypatch.setattr(SimCLR, "forward", record)
    pretrain(
        tiny_config(digit_folder, tmp_path / "run", epochs=1, precision=precision), False, Console(quiet=True)
    )
    assert seen and set(seen) == {encoder_dtype}
