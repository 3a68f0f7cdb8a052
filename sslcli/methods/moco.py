"""MoCo v2: Chen, Fan, Girshick, He, "Improved Baselines with Momentum Contrastive Learning",
arXiv:2003.04297, 2020 (MoCo: He, Fan, Wu, Xie, Girshick, "Momentum Contrast for Unsupervised Visual
Representation Learning", CVPR 2020).

A query encoder (backbone + MLP head) is trained with InfoNCE against the key of the other view, made
by a momentum copy of the encoder, and against a queue of past keys as negatives. MoCo v2 defaults:
temperature 0.2, momentum 0.999, 128-d output, 2048-d hidden layer. The queue defaults to 4096 keys
(65536 in the paper, sized for ImageNet; a queue larger than the dataset only holds stale copies).
The queue and the key encoder are buffers/frozen submodules, so checkpoints capture them. Under
torchrun every rank enqueues the keys of every rank (as the authors' code does), so the queues stay
identical; shuffling BN is not emulated (``--sync-batchnorm`` is the other cure for BN leakage).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from sslcli.kernels import info_nce
from sslcli.methods.base import ANY_KIND, Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.methods.momentum import ema_update, frozen_copy
from sslcli.methods.options import Count, Fraction, Positive
from sslcli.registry import METHODS


def moco_loss(
    query: torch.Tensor, key: torch.Tensor, queue: torch.Tensor, temperature: float
) -> torch.Tensor:
    """InfoNCE of each query against its own key and the queue (Algorithm 1: logits [q . k, q . queue]
    / t, the key first), through the fused kernel: queries/keys (B, P), queue (K, P), L2-normalised."""
    positives = torch.arange(len(query), device=query.device)  # (B,) query i's key is key i
    return info_nce(
        query, key.detach(), positives, temperature, negatives=queue, batch_negatives=False, normalize=False
    )


@METHODS.register
class MoCoV2(Method):
    name = "moco_v2"
    description = "contrastive: momentum key encoder, queue of negatives, MLP head"
    paper = "Chen et al., arXiv 2020 (MoCo: He et al., CVPR 2020)"
    family = "two_views"
    accepts = (ANY_KIND,)  # only pooled embeddings of two views: every kind a domain augments

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        projection_dim: Count = 128,
        hidden_dim: Count = 2048,
        temperature: Positive = 0.2,
        momentum: Fraction = 0.999,
        queue_size: Count = 4096,
    ):
        super().__init__(backbone, feature_dim)
        self.temperature, self.momentum = temperature, momentum
        self.projector = nn.Sequential(
            nn.Linear(feature_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, projection_dim)
        )
        self.key_backbone, self.key_projector = frozen_copy(backbone), frozen_copy(self.projector)
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, projection_dim), dim=1))  # (K, P)
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        view_q, view_k = view_tensors(views)  # (B, C, H, W) each
        query = F.normalize(self.projector(self.backbone(view_q)), dim=1)  # (B, P)
        with torch.no_grad():
            key = F.normalize(self.key_projector(self.key_backbone(view_k)), dim=1)  # (B, P)
        loss = moco_loss(query, key, self.queue.clone(), self.temperature)
        self._enqueue(ctx.world.gather_rows(key))  # (world * B, P)
        return StepOutput(loss)

    @torch.no_grad()
    def _enqueue(self, keys: torch.Tensor) -> None:
        """Overwrite the oldest queue entries with ``keys`` (B, P), wrapping around."""
        slots = (self.queue_ptr + torch.arange(len(keys), device=keys.device)) % len(self.queue)  # (B,)
        self.queue[slots] = keys.to(self.queue.dtype)
        self.queue_ptr.copy_((self.queue_ptr + len(keys)) % len(self.queue))

    def on_step_end(self, ctx: StepContext) -> None:
        ema_update(self.key_backbone, self.backbone, self.momentum)
        ema_update(self.key_projector, self.projector, self.momentum)
