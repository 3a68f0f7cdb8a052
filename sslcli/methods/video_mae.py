"""VideoMAE: Tong, Song, Wang, Wang, "VideoMAE: Masked Autoencoders are Data-Efficient Learners for
Self-Supervised Video Pre-Training", NeurIPS 2022.

MAE (``sslcli.methods.mae``) on clips (B, T, C, H, W): the ViT embeds tubelets of 2 frames x p x p
pixels (``sslcli.models.vit``); tube masking hides the same 90% of the spatial patches in every time
group, so a hidden tubelet cannot be copied from its neighbour in time; the decoder predicts every
tubelet's pixels and the loss is the MSE on the hidden tubelets against per-tubelet normalised pixels.
Writes ``plots/videomae_reconstruction.png``: a few clips' frames, originals / masked input /
reconstruction, except for data that may identify people. The decoder's defaults are the paper's
ViT-S decoder (width 192, 3 heads, 4 blocks).

Differences from the authors' code: fixed 3-axis (time, row, column) sin-cos positions instead of a
1-D table over the flattened tokens; each tubelet normalised over all its values, as MAE does, where
the authors normalise each colour channel of a tubelet on its own.
"""

from __future__ import annotations

import torch.nn as nn

from sslcli.methods.mae import MAE
from sslcli.methods.options import Count, OpenFraction
from sslcli.registry import METHODS


@METHODS.register
class VideoMAE(MAE):
    name = "videomae"
    description = "masked video: ViT on the visible tubelets of tube-masked clips, decoder rebuilds the rest"
    paper = "Tong et al., NeurIPS 2022"
    accepts = ("clip",)
    default_backbone = "vit_tiny"

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        mask_ratio: OpenFraction = 0.9,
        decoder_dim: Count = 192,
        decoder_depth: Count = 4,
        decoder_heads: Count = 3,
        norm_pix_loss: bool = True,
    ):
        super().__init__(
            backbone, feature_dim, mask_ratio, decoder_dim, decoder_depth, decoder_heads, norm_pix_loss
        )
