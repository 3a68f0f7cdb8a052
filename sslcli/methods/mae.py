"""MAE: He, Chen, Xie, Li, Dollár, Girshick, "Masked Autoencoders Are Scalable Vision Learners",
CVPR 2022.

75% of the patches are hidden by a random token mask; the encoder sees only the visible patches
(``Encoder.tokens(x, mask)`` of any encoder whose tokens are patches: ``patch_grid``), a light
transformer decoder gets them back in place with mask tokens in the gaps (``sslcli.kernels.
mae_unshuffle``, fused on GPU) and predicts every patch's pixels; the loss is the MSE on the hidden
patches against per-patch normalised pixels. ``embed`` runs the encoder on all patches, without
masking, and mean-pools them. The backbone defaults to ``vit_tiny`` whatever the domain's; returns
the picture ``<name>_reconstruction`` at the end, except for data that may identify people (a domain
with identifying paths), whose pixels no picture shows.

The same code trains a clip ViT (tubelets, ``sslcli.models.vit``) on clips (B, T, C, H, W) with tube
masking: ``sslcli.methods.video_mae`` is VideoMAE's name and defaults around it.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.utils import make_grid

from sslcli.kernels import mae_unshuffle, num_visible
from sslcli.methods.base import Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.methods.options import Count, OpenFraction
from sslcli.models.patch_grid import PatchGrid
from sslcli.models.protocol import patch_grid_of
from sslcli.models.vit import sincos_position_embedding, transformer_blocks
from sslcli.registry import METHODS

PREVIEW_IMAGES = 8
PREVIEW_CLIPS = 3
PREVIEW_MIN_SIDE = 64


def normalised_patches(patches: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each patch (B, L, P) to zero mean and unit variance over its P values (MAE's norm_pix_loss)."""
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)
    return (patches - mean) / (var + eps).sqrt()


def masked_patch_loss(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over hidden patches (mask (B, L) True) of the per-patch MSE between (B, L, P) tensors."""
    per_patch = (prediction - target).pow(2).mean(dim=-1)  # (B, L)
    mask = mask.to(per_patch.dtype)
    return (per_patch * mask).sum() / mask.sum()


def picture_tiles(originals: torch.Tensor, masked: torch.Tensor, restored: torch.Tensor):
    """The reconstruction picture's tiles (N, C, H, W) and tiles per row: images (B, C, H, W) in three
    rows (originals, masked inputs, reconstructions); clips (B, T, C, H, W) as three rows of frames each."""
    if originals.ndim == 4:
        return torch.cat([originals, masked, restored]), len(originals)
    rows = torch.stack([originals, masked, restored], dim=1)  # (B, 3, T, C, H, W)
    return rows.flatten(0, 2), originals.shape[1]


def tube_mask(batch: int, grid: PatchGrid, mask_ratio: float, device) -> tuple[torch.Tensor, torch.Tensor]:
    """MAE's random masking, the same spatial patches in every time group (VideoMAE's tube masking):
    the mask (B, G*L) over the encoder's tokens, True = hidden, and ids_restore (B, L), each patch's
    place in [visible tokens in token order, hidden ones] (what ``mae_unshuffle`` reads)."""
    length = grid.spatial_patches
    noise = torch.rand(batch, length, device=device)  # (B, L): the smallest stay visible
    hidden = noise.argsort(dim=1).argsort(dim=1) >= num_visible(length, mask_ratio)  # (B, L)
    ids_restore = hidden.to(torch.uint8).argsort(dim=1, stable=True).argsort(dim=1)  # (B, L)
    return hidden.repeat(1, grid.time_groups), ids_restore


class MAEDecoder(nn.Module):
    """Encoded visible tokens (B, G*K, D) and ids_restore (B, L) -> pixels of every patch (B, G*L, P),
    G the encoder's time groups (1 for images)."""

    def __init__(self, grid: PatchGrid, encoder_dim: int, dim: int, depth: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"decoder_dim {dim} is not divisible by decoder_heads {heads}")
        self.time_groups = grid.time_groups
        self.embed = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.register_buffer("pos_embed", sincos_position_embedding(grid.grid, dim)[None], persistent=False)
        self.blocks = transformer_blocks(dim, depth, heads)
        self.norm = nn.LayerNorm(dim)
        self.predict = nn.Linear(dim, grid.patch_values)

    def forward(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        embedded = self.embed(latent)  # (B, G*K, E)
        tokens = mae_unshuffle(embedded, self.mask_token, ids_restore, time_steps=self.time_groups)
        tokens = tokens + self.pos_embed  # (B, G*L, E)
        for block in self.blocks:
            tokens = block(tokens)
        return self.predict(self.norm(tokens))  # (B, G*L, P)


@METHODS.register
class MAE(Method):
    name = "mae"
    description = "masked: ViT encoder on visible patches, light decoder reconstructs hidden pixels"
    paper = "He et al., CVPR 2022"
    family = "one_view"
    accepts = ("image2d", "spectrogram")
    default_backbone = "vit_tiny"

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        mask_ratio: OpenFraction = 0.75,
        decoder_dim: Count = 128,
        decoder_depth: Count = 2,
        decoder_heads: Count = 4,
        norm_pix_loss: bool = True,
    ):
        super().__init__(backbone, feature_dim)
        grid = patch_grid_of(backbone)
        if grid is None:
            raise ValueError(
                f"{self.name} needs an encoder whose tokens are patches (vit_tiny, vit_small, vit_base); "
                "set backbone in --config"
            )
        self.grid, self.mask_ratio, self.norm_pix_loss = grid, mask_ratio, norm_pix_loss
        self.decoder = MAEDecoder(grid, feature_dim, decoder_dim, decoder_depth, decoder_heads)
        self.preview: torch.Tensor | None = None  # last inputs seen, for the reconstruction picture

    def predict(self, x: torch.Tensor):
        """Mask images (B, C, H, W), or clips (B, T, C, H, W) with the same patches hidden in each of
        their G time groups; the predicted patches (B, G*L, P), the target patches (B, G*L, P) and the
        mask (B, G*L)."""
        mask, ids_restore = tube_mask(len(x), self.grid, self.mask_ratio, x.device)  # (B, G*L), (B, L)
        latent = self.backbone.tokens(x, mask)  # (B, G*K, D): the visible patches only
        target = self.grid.patchify(x)  # (B, G*L, P)
        if self.norm_pix_loss:
            target = normalised_patches(target)
        return self.decoder(latent, ids_restore), target, mask

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        (x,) = view_tensors(views)  # (B, C, H, W) or (B, T, C, H, W)
        self.preview = x[: PREVIEW_IMAGES if x.ndim == 4 else PREVIEW_CLIPS].detach()
        prediction, target, mask = self.predict(x)
        return StepOutput(masked_patch_loss(prediction.float(), target.float(), mask))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(masked input, reconstruction with the visible patches pasted back), both shaped like ``x``."""
        size = (*x.shape[1 : x.ndim - 3], *x.shape[-2:])  # (H, W), or (T, H, W) for clips
        prediction, _, mask = self.predict(x)
        patches = self.grid.patchify(x)  # (B, G*L, P)
        if self.norm_pix_loss:  # undo the per-patch normalisation with the true patch statistics
            prediction = prediction * (patches.var(-1, keepdim=True) + 1e-6).sqrt() + patches.mean(
                -1, keepdim=True
            )
        hidden = mask[..., None].to(patches.dtype)  # (B, G*L, 1)
        masked = self.grid.unpatchify(patches * (1 - hidden), size)
        restored = patches * (1 - hidden) + prediction.to(patches.dtype) * hidden  # (B, G*L, P)
        return masked, self.grid.unpatchify(restored, size)

    def on_train_end(self, show_samples: bool) -> dict[str, torch.Tensor]:
        """``<name>_reconstruction``: originals, masked inputs and reconstructions of the last batch seen,
        as a grid (3, H, W); nothing where the data may identify people."""
        if self.preview is None or not show_samples:
            return {}
        was_training = self.training
        self.eval()
        originals = self.preview.float()
        masked, restored = self.reconstruct(originals)
        self.train(was_training)
        tiles, per_row = picture_tiles(originals, masked, restored)  # (N, C, H, W)
        scale = max(1, PREVIEW_MIN_SIDE // originals.shape[-1])
        tiles = F.interpolate(tiles, scale_factor=scale, mode="nearest")
        grid = make_grid(tiles.cpu(), nrow=per_row, normalize=True, scale_each=True, padding=2)  # (3, H, W)
        return {f"{self.name}_reconstruction": grid}
