"""Audio-visual correspondence by cross-modal instance discrimination: Morgado, Vasconcelos, Misra,
"Audio-Visual Instance Discrimination with Cross-Modal Agreement", CVPR 2021 (AVID); the task of
Arandjelović & Zisserman, "Look, Listen and Learn", ICCV 2017, as a contrastive loss.

Each sample is a clip and the log-mel of the same time span. A clip encoder and a sound encoder, each
with its own projection head into a shared space, are trained so that a clip's embedding is nearest
its own soundtrack's among the batch's soundtracks, and the other way round (symmetric InfoNCE,
``sslcli.kernels.cross_modal_info_nce``: the fused kernel on GPU). Both encoders are exported;
``embed --input NAME`` picks one input's. ``retrieval_top1`` logs the share of the batch's clips whose
nearest soundtrack is their own (chance: 1 / batch).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from sslcli.domains import InputSpec
from sslcli.kernels import cross_modal_info_nce
from sslcli.methods.base import Method, Sample, StepContext, StepOutput, input_of_kind
from sslcli.methods.options import Count, Positive
from sslcli.models.heads import ProjectionHead
from sslcli.registry import METHODS


@METHODS.register
class AudioVisualCorrespondence(Method):
    name = "avid"
    description = "audio-visual: a clip matches its own soundtrack, cross-modal InfoNCE both ways"
    paper = "Morgado et al., CVPR 2021"
    family = "one_view"
    accepts = ("clip", "spectrogram")
    input_count = 2
    log_names = ("retrieval_top1",)

    def __init__(
        self,
        backbone: nn.ModuleDict,
        feature_dim: dict[str, int],
        inputs: dict[str, InputSpec],
        projection_dim: Count = 128,
        hidden_dim: Count = 512,
        temperature: Positive = 0.1,
    ):
        super().__init__(backbone, feature_dim)
        self.pair = (input_of_kind(inputs, "clip"), input_of_kind(inputs, "spectrogram"))  # input names
        if not isinstance(backbone, nn.ModuleDict) or sorted(backbone) != sorted(self.pair):
            raise ValueError(f"{self.name} needs an encoder for each of {', '.join(self.pair)}")
        self.temperature = temperature
        self.projectors = nn.ModuleDict(
            {name: ProjectionHead(dim, hidden_dim, projection_dim) for name, dim in feature_dim.items()}
        )

    def embed(self, sample: Sample) -> dict[str, torch.Tensor]:
        """The clips' and the soundtracks' embeddings in the shared space, (B, P) each, not normalised."""
        return {name: self.projectors[name](self.backbone[name](sample[name])) for name in self.pair}

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        (sample,) = views  # a clip (B, T, 3, H, W) and its log-mel (B, 1, M, F), the same time spans
        clips, sounds = self.embed(sample).values()  # (B, P) each
        with torch.no_grad():
            similarity = F.normalize(clips.float(), dim=1) @ F.normalize(sounds.float(), dim=1).T  # (B, B)
            target = torch.arange(len(clips), device=clips.device)
            top1 = (similarity.argmax(dim=1) == target).float().mean().item()
        loss = cross_modal_info_nce(clips, sounds, self.temperature)
        return StepOutput(loss, {"retrieval_top1": top1})
