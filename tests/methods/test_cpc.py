"""CPC's loss against a naive per-step loop written from the paper (van den Oord et al. 2018, eq. 4):
for every sequence b, step t and offset k, -log of the softmax of its prediction's scores at its own
z_{t+k} among every z_{t'+k} of the batch; the context recomputed with a GRU cell step by step."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from sslcli.methods import StepContext
from sslcli.methods.cpc import CPC

B, MELS, FRAMES, D, H, K, TAU = 3, 4, 7, 5, 6, 3, 0.2


class FrameEncoder(nn.Module):
    """(B, 1, M, T) -> time steps (B, T, D): one linear map per frame."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(MELS, D)

    def time_steps(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x[:, 0].transpose(1, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.time_steps(x).mean(dim=1)


def naive_cpc_loss(method: CPC, x: torch.Tensor) -> torch.Tensor:
    z = method.backbone.time_steps(x)  # (B, T, D)
    cell = nn.GRUCell(D, H).double()
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        setattr(cell, name, getattr(method.context, f"{name}_l0"))
    c, h = [], torch.zeros(B, H, dtype=z.dtype)
    for t in range(FRAMES):
        h = cell(z[:, t], h)
        c.append(h)
    per_k = []
    for k, predictor in enumerate(method.predictors, start=1):
        candidates = [(b, t) for b in range(B) for t in range(k, FRAMES)]
        terms = []
        for b in range(B):
            for t in range(FRAMES - k):
                prediction = predictor(c[t][b])
                scores = torch.stack(
                    [F.cosine_similarity(prediction, z[bb, tt], dim=0) / TAU for bb, tt in candidates]
                )
                terms.append(torch.logsumexp(scores, 0) - scores[candidates.index((b, t + k))])
        per_k.append(torch.stack(terms).mean())
    return torch.stack(per_k).mean()


def test_cpc_loss_and_gradient_match_the_naive_loop():
    torch.manual_seed(0)
    method = CPC(FrameEncoder(), D, prediction_steps=K, context_dim=H, temperature=TAU).double()
    x = torch.randn(B, 1, MELS, FRAMES, dtype=torch.float64)
    loss = method([{"spectrogram": x}], StepContext()).loss
    grads = torch.autograd.grad(loss, list(method.parameters()))
    expected = naive_cpc_loss(method, x)
    expected_grads = torch.autograd.grad(expected, list(method.parameters()))
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-12)
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)


def test_cpc_refuses_sequences_no_longer_than_its_prediction_steps():
    method = CPC(FrameEncoder(), D, prediction_steps=FRAMES, context_dim=H)
    with pytest.raises(ValueError, match="only 7 time steps"):
        method([{"spectrogram": torch.randn(B, 1, MELS, FRAMES)}], StepContext())
