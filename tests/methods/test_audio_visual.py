"""Audio-visual correspondence (AVID): the loss is the symmetric InfoNCE of the two projection heads'
outputs, its retrieval log counts the clips whose nearest soundtrack is their own, and it needs one
encoder per input."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from sslcli.domains import InputSpec

from sslcli.methods.audio_visual import AudioVisualCorrespondence
from sslcli.methods.base import StepContext

INPUTS = {"video": InputSpec("clip", 3, (2, 4, 4)), "audio": InputSpec("spectrogram", 1, (5, 6))}


def encoders() -> tuple[nn.ModuleDict, dict[str, int]]:
    video = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 4 * 4, 12))  # (B, T, C, H, W) -> (B, 12)
    audio = nn.Sequential(nn.Flatten(), nn.Linear(1 * 5 * 6, 7))  # (B, 1, M, F) -> (B, 7)
    return nn.ModuleDict({"video": video, "audio": audio}), {"video": 12, "audio": 7}


def test_the_loss_is_the_symmetric_infonce_of_the_projected_pairs():
    torch.manual_seed(0)
    backbone, dims = encoders()
    method = AudioVisualCorrespondence(
        backbone, dims, INPUTS, projection_dim=8, hidden_dim=16, temperature=0.2
    )
    sample = {"video": torch.randn(6, 2, 3, 4, 4), "audio": torch.randn(6, 1, 5, 6)}
    out = method([sample], StepContext())
    video = method.projectors["video"](backbone["video"](sample["video"]))  # (6, 8)
    audio = method.projectors["audio"](backbone["audio"](sample["audio"]))
    logits = F.normalize(video, dim=1) @ F.normalize(audio, dim=1).T / 0.2  # (6, 6)
    target = torch.arange(6)
    expected = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    assert float(out.loss) == pytest.approx(float(expected), rel=1e-5)
    own = sum(int(logits[i].argmax() == i) for i in range(6)) / 6
    assert out.logs["retrieval_top1"] == pytest.approx(own)
    out.loss.backward()
    assert all(p.grad is not None for p in backbone.parameters())


def test_the_retrieval_log_is_one_when_every_clip_sits_on_its_soundtrack():
    video = nn.Flatten()
    backbone = nn.ModuleDict({"video": video, "audio": nn.Flatten()})
    method = AudioVisualCorrespondence(
        backbone, {"video": 4, "audio": 4}, INPUTS, projection_dim=4, hidden_dim=4
    )
    for name in ("video", "audio"):  # identity projections: the two inputs' embeddings are the inputs
        method.projectors[name] = nn.Identity()
    codes = torch.eye(4) * 3 + 0.1 * torch.randn(4, 4)  # (4, 4) distinct directions
    out = method([{"video": codes, "audio": codes}], StepContext())
    assert out.logs["retrieval_top1"] == 1.0


def test_one_encoder_for_both_inputs_is_refused():
    with pytest.raises(ValueError, match="an encoder for each of video, audio"):
        AudioVisualCorrespondence(nn.Flatten(), 4, INPUTS)


def test_the_inputs_are_told_apart_by_kind_whatever_their_names():
    torch.manual_seed(0)
    backbone, dims = encoders()
    renamed = {"sound": INPUTS["audio"], "frames": INPUTS["video"]}
    backbone = nn.ModuleDict({"frames": backbone["video"], "sound": backbone["audio"]})
    method = AudioVisualCorrespondence(backbone, {"frames": 12, "sound": 7}, renamed, projection_dim=8)
    sample = {"frames": torch.randn(6, 2, 3, 4, 4), "sound": torch.randn(6, 1, 5, 6)}
    assert list(method.embed(sample)) == ["frames", "sound"]  # the clip first, as the loss takes them
    method([sample], StepContext()).loss.backward()
