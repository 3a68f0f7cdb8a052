"""CPC: van den Oord, Li, Vinyals, "Representation Learning with Contrastive Predictive Coding",
arXiv 2018.

The encoder turns an input into a sequence of latents z_t (``time_steps``: a spectrogram's frames,
(B, T, D)); a GRU summarises z_1..z_t into a context c_t; one linear map W_k per step ahead predicts
z_{t+k} from c_t, k = 1..K. Each prediction must pick its own z_{t+k} out of every z_{t'+k} of the
batch (the other sequences' and its own other steps): InfoNCE through the fused kernel, averaged
over k. Scores are cosine similarities over a temperature, as wav2vec 2.0 does (Baevski et al.,
NeurIPS 2020), rather than the paper's unnormalised bilinear product, which is unstable in bf16.
Under torchrun the targets of every rank are the candidates (gathered with their gradient).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from sslcli.distributed import World
from sslcli.kernels import info_nce
from sslcli.methods.base import Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.methods.options import Count, Positive
from sslcli.registry import METHODS


@METHODS.register
class CPC(Method):
    name = "cpc"
    description = "predictive coding: GRU context predicts the latents k steps ahead, InfoNCE"
    paper = "van den Oord et al., arXiv 2018"
    family = "one_view"
    accepts = ("spectrogram",)  # encoders' time_steps run along a spectrogram's frames
    default_backbone = "spec_cnn"

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        prediction_steps: Count = 4,
        context_dim: Count = 256,
        temperature: Positive = 0.1,
    ):
        super().__init__(backbone, feature_dim)
        self.temperature = temperature
        self.context = nn.GRU(feature_dim, context_dim, batch_first=True)
        self.predictors = nn.ModuleList(
            nn.Linear(context_dim, feature_dim) for _ in range(prediction_steps)
        )  # W_k, k = 1..K

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        (spectrograms,) = view_tensors(views)  # (B, 1, M, frames)
        latents = self.backbone.time_steps(spectrograms)  # (B, T, D)
        steps = latents.shape[1]
        if steps <= len(self.predictors):
            raise ValueError(
                f"cpc predicts {len(self.predictors)} steps ahead but the encoder gives only {steps} "
                "time steps: use longer segments (--input-size) or fewer prediction_steps"
            )
        contexts, _ = self.context(latents)  # (B, T, H)
        losses = [
            self.step_loss(predict(contexts[:, : steps - k]), latents[:, k:], ctx.world)
            for k, predict in enumerate(self.predictors, start=1)
        ]
        return StepOutput(torch.stack(losses).mean())

    def step_loss(self, predictions: torch.Tensor, targets: torch.Tensor, world: World) -> torch.Tensor:
        """InfoNCE of predictions (B, T - k, D) for targets (B, T - k, D): every target of every rank
        is a candidate, the one at the same (sequence, step) the positive."""
        queries, keys = predictions.flatten(0, 1), targets.flatten(0, 1)  # (N, D) each, N = B (T - k)
        if not world.alone:
            keys = world.gather(keys)  # (world N, D) rank-major
        positives = world.rank * len(queries) + torch.arange(len(queries), device=queries.device)  # (N,)
        return info_nce(queries, keys, positives, self.temperature)
