"""MAE: He, Chen, Xie, Li, Dollár, Girshick, "Masked Autoencoders Are Scalable Vision Learners",
CVPR 2022.

75% of the patches are hidden (``sslcli.kernels.mae_random_masking``: fused on GPU, the torch
reference on CPU); the ViT encoder sees only the visible patches, a light transformer decoder gets
them back in place with mask tokens in the gaps (``mae_unshuffle``) and predicts every patch's
pixels; the loss is the MSE on the hidden patches against per-patch normalised pixels. ``embed``
runs the encoder on all patches, without masking, and mean-pools them. The backbone defaults to
``vit_tiny`` whatever the domain's; writes ``plots/mae_reconstruction.png`` at the end, except for
data that may identify people (the medical domain), whose pixels no picture shows.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.utils import save_image

from sslcli.kernels import mae_random_masking, mae_unshuffle, num_visible
from sslcli.methods.base import Method, Sample, StepContext, StepOutput, register_method, view_tensors
from sslcli.methods.options import Count, OpenFraction
from sslcli.models.vit import (
    VisionTransformer,
    patchify,
    sincos_position_embedding,
    transformer_blocks,
    unpatchify,
)
from sslcli.run_dir import atomic_write

PREVIEW_IMAGES = 8
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


class MAEDecoder(nn.Module):
    """Encoded visible tokens (B, K, D) and ids_restore (B, L) -> pixels of every patch (B, L, P)."""

    def __init__(self, encoder: VisionTransformer, dim: int, depth: int, heads: int):
        super().__init__()
        self.embed = nn.Linear(encoder.dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.register_buffer(
            "pos_embed", sincos_position_embedding(encoder.grid, dim)[None], persistent=False
        )
        self.blocks = transformer_blocks(dim, depth, heads)
        self.norm = nn.LayerNorm(dim)
        self.predict = nn.Linear(dim, encoder.patch_size**2 * encoder.in_channels)

    def forward(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        tokens = mae_unshuffle(self.embed(latent), self.mask_token, ids_restore)  # (B, L, E)
        tokens = tokens + self.pos_embed
        for block in self.blocks:
            tokens = block(tokens)
        return self.predict(self.norm(tokens))  # (B, L, P)


@register_method
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
        if not isinstance(backbone, VisionTransformer):
            raise ValueError(
                "mae needs a ViT backbone (vit_tiny, vit_small, vit_base); set backbone in --config"
            )
        self.mask_ratio, self.norm_pix_loss = mask_ratio, norm_pix_loss
        self.decoder = MAEDecoder(backbone, decoder_dim, decoder_depth, decoder_heads)
        self.preview: torch.Tensor | None = None  # last images seen, for the reconstruction picture

    def encode_visible(self, images: torch.Tensor):
        """Mask ``images`` (B, C, H, W); encode the visible patches -> latent (B, K, D), mask, ids_restore."""
        vit = self.backbone
        visible, mask, ids_restore = mae_random_masking(images, self.mask_ratio, vit.patch_size)  # (B, K, P)
        keep = num_visible(vit.num_patches, self.mask_ratio)
        ids_keep = ids_restore.argsort(dim=1)[:, :keep]  # (B, K) patch index of each visible token
        positions = vit.pos_embed.expand(len(images), -1, -1)  # (B, L, D)
        positions = positions.gather(1, ids_keep[..., None].expand(-1, -1, vit.dim))  # (B, K, D)
        return vit.encode(vit.patch_embed(visible) + positions), mask, ids_restore

    def predict(self, images: torch.Tensor):
        """Predicted patches (B, L, P), the target patches (B, L, P) and the mask (B, L)."""
        latent, mask, ids_restore = self.encode_visible(images)
        target = patchify(images, self.backbone.patch_size)  # (B, L, P)
        if self.norm_pix_loss:
            target = normalised_patches(target)
        return self.decoder(latent, ids_restore), target, mask

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        (images,) = view_tensors(views)  # (B, C, H, W)
        self.preview = images[:PREVIEW_IMAGES].detach()
        prediction, target, mask = self.predict(images)
        return StepOutput(masked_patch_loss(prediction.float(), target.float(), mask))

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(masked input, reconstruction with the visible patches pasted back), both (B, C, H, W)."""
        p, channels, size = self.backbone.patch_size, images.shape[1], tuple(images.shape[-2:])
        prediction, _, mask = self.predict(images)
        patches = patchify(images, p)  # (B, L, P)
        if self.norm_pix_loss:  # undo the per-patch normalisation with the true patch statistics
            prediction = prediction * (patches.var(-1, keepdim=True) + 1e-6).sqrt() + patches.mean(
                -1, keepdim=True
            )
        hidden = mask[..., None].to(patches.dtype)  # (B, L, 1)
        masked = unpatchify(patches * (1 - hidden), p, channels, size)
        return masked, unpatchify(
            patches * (1 - hidden) + prediction.to(patches.dtype) * hidden, p, channels, size
        )

    def on_train_end(self, run_dir: Path, show_samples: bool) -> None:
        if self.preview is None or not show_samples:
            return
        was_training = self.training
        self.eval()
        images = self.preview.float()
        masked, restored = self.reconstruct(images)
        self.train(was_training)
        rows = torch.cat([images, masked, restored])  # (3n, C, H, W): originals, inputs, reconstructions
        scale = max(1, PREVIEW_MIN_SIDE // images.shape[-1])
        rows = F.interpolate(rows, scale_factor=scale, mode="nearest")
        picture = dict(nrow=len(images), normalize=True, scale_each=True, padding=2, format="png")
        out = run_dir / "plots" / "mae_reconstruction.png"
        atomic_write(out, lambda tmp: save_image(rows.cpu(), tmp, **picture))
