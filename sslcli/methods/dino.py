"""DINO: Caron, Touvron, Misra, Jégou, Mairal, Bojanowski, Joulin, "Emerging Properties in
Self-Supervised Vision Transformers", ICCV 2021.

Self-distillation without labels: a student (backbone + head) matches, with a cross-entropy, the
sharpened and centred output distribution that an EMA teacher gives of another crop. Multi-crop
views: the teacher sees the 2 global crops, the student every crop (globals and locals). The centre
is an EMA (0.9) of the teacher's batch mean; the teacher temperature warms up linearly from 0.04 to
0.07 over the first 30% of training; the student's is 0.1; the teacher's momentum rises from 0.996
to 1 on a cosine. The head: 3-layer MLP (2048 hidden, GELU) -> 256-d bottleneck, L2-normalised ->
weight-normalised linear layer (norm fixed to 1) of ``out_dim`` prototypes (65536 in the paper, 4096
here by default).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from sslcli.distributed import World
from sslcli.domains.base import GLOBAL_CROPS
from sslcli.methods.base import Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.methods.momentum import cosine_momentum, ema_update, frozen_copy
from sslcli.methods.options import Count, Fraction, Positive
from sslcli.registry import METHODS


class DINOHead(nn.Module):
    """(B, F) -> (B, out_dim) logits over prototypes."""

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int = 2048, bottleneck_dim: int = 256):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.GELU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.GELU(),
            nn.Linear(hidden_dim, bottleneck_dim),
        )
        self.prototypes = nn.Parameter(torch.randn(out_dim, bottleneck_dim) * 0.02)  # (K, d)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = F.normalize(self.mlp(features), dim=-1)  # (B, d)
        return z @ F.normalize(self.prototypes, dim=-1).T  # (B, K)


def dino_loss(
    student: list[torch.Tensor],
    teacher: list[torch.Tensor],
    center: torch.Tensor,
    student_temp: float,
    teacher_temp: float,
) -> torch.Tensor:
    """Mean over pairs (teacher crop i, student crop j != i) of H(teacher_i, student_j).

    ``student``: logits (B, K) per crop, the first ``len(teacher)`` being the global crops;
    ``teacher``: logits (B, K) per global crop; ``center``: (1, K).
    """
    targets = [F.softmax((t - center) / teacher_temp, dim=-1) for t in teacher]  # (B, K) each
    log_probs = [F.log_softmax(s / student_temp, dim=-1) for s in student]  # (B, K) each
    terms = [
        -(target * log_prob).sum(dim=-1).mean()
        for i, target in enumerate(targets)
        for j, log_prob in enumerate(log_probs)
        if i != j
    ]
    return torch.stack(terms).mean()


def teacher_temperature(progress: float, start: float, end: float, warmup: float) -> float:
    """Linear warm-up from ``start`` to ``end`` over the first ``warmup`` fraction of training."""
    if warmup <= 0:
        return end
    return start + (end - start) * min(progress / warmup, 1.0)


@METHODS.register
class DINO(Method):
    name = "dino"
    description = "self-distillation: EMA teacher, multi-crop, centring + sharpening, no labels"
    paper = "Caron et al., ICCV 2021"
    family = "multi_crop"
    log_names = ("teacher_temp",)
    accepts = ("image2d",)

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        out_dim: Count = 4096,
        student_temp: Positive = 0.1,
        teacher_temp: Positive = 0.07,
        warmup_teacher_temp: Positive = 0.04,
        teacher_temp_warmup: Fraction = 0.3,
        center_momentum: Fraction = 0.9,
        base_momentum: Fraction = 0.996,
    ):
        super().__init__(backbone, feature_dim)
        self.student_temp, self.center_momentum, self.base_momentum = (
            student_temp,
            center_momentum,
            base_momentum,
        )
        self.teacher_schedule = (warmup_teacher_temp, teacher_temp, teacher_temp_warmup)
        self.head = DINOHead(feature_dim, out_dim)
        self.teacher_backbone, self.teacher_head = frozen_copy(backbone), frozen_copy(self.head)
        self.register_buffer("center", torch.zeros(1, out_dim))  # (1, K)
        self.register_buffer("progress", torch.zeros(()))  # fraction of training done

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        crops = view_tensors(views)  # (B, C, H, W) each: the global crops, then the local ones
        batch = crops[0].shape[0]
        global_views, local_views = crops[:GLOBAL_CROPS], crops[GLOBAL_CROPS:]
        student = self.head(self.backbone(torch.cat(global_views))).chunk(GLOBAL_CROPS)  # (B, K) each
        if local_views:
            student += self.head(self.backbone(torch.cat(local_views))).chunk(len(local_views))
        with torch.no_grad():
            teacher = self.teacher_head(self.teacher_backbone(torch.cat(global_views))).float()  # (2B, K)
        temperature = teacher_temperature(float(self.progress), *self.teacher_schedule)
        loss = dino_loss(
            [s.float() for s in student],
            list(teacher.split(batch)),
            self.center,
            self.student_temp,
            temperature,
        )
        self._update_center(teacher, ctx.world)
        return StepOutput(loss, {"teacher_temp": temperature})

    @torch.no_grad()
    def _update_center(self, teacher: torch.Tensor, world: World) -> None:
        """center <- m * center + (1 - m) * batch mean of the teacher logits (2B, K), over every rank."""
        batch_center = world.all_reduce_mean(teacher.mean(dim=0, keepdim=True))  # (1, K)
        self.center.lerp_(batch_center, 1 - self.center_momentum)

    def on_step_end(self, ctx: StepContext) -> None:
        self.progress.fill_(ctx.step / max(ctx.total_steps, 1))
        momentum = cosine_momentum(ctx.step, ctx.total_steps, self.base_momentum)
        ema_update(self.teacher_backbone, self.backbone, momentum)
        ema_update(self.teacher_head, self.head, momentum)
