"""The contract every encoder keeps, and the token mask that masked methods hand it.

``forward(x) -> (B, D)``: pooled features of a batch (B, *spec.shape). ``tokens(x, mask=None) ->
(B, N, D)``: one feature per token (a patch, a tubelet, a feature-map cell or a time step), whose mean
over N is ``forward``. Masked methods (MAE, VideoMAE) and JEPA-style ones use only these two, never an
architecture's internals. A ``mask`` (B, N) is True where a token is hidden from the encoder; every
row hides the same number, and ``tokens`` returns the visible ones (B, N_visible, D) in token order.
Only an encoder that cuts its input into tokens before the network (a ViT: ``patch_grid``) can hide
them; the others refuse a mask, since their tokens already saw the whole input.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from sslcli.models.patch_grid import PatchGrid


@runtime_checkable
class Encoder(Protocol):
    def forward(self, x: torch.Tensor) -> torch.Tensor: ...

    def tokens(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor: ...


def patch_grid_of(encoder: object) -> PatchGrid | None:
    """The pixels each token covers, for encoders whose tokens are patches of the input; else None."""
    grid = getattr(encoder, "patch_grid", None)
    return grid if isinstance(grid, PatchGrid) else None


def visible_tokens(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Tokens (B, N, D) and a mask (B, N), True = hidden -> the visible tokens (B, N_visible, D) in
    token order."""
    if mask.shape != tokens.shape[:2] or mask.dtype != torch.bool:
        raise ValueError(
            f"a token mask must be bool (B, N) = {tuple(tokens.shape[:2])}, got "
            f"{mask.dtype} {tuple(mask.shape)}"
        )
    visible = (~mask).sum(dim=1)  # (B,)
    if not bool((visible == visible[0]).all()):
        raise ValueError("every row of a token mask must hide the same number of tokens")
    return tokens[~mask].reshape(len(tokens), -1, tokens.shape[2])  # (B, N_visible, D)


def refuse_mask(mask: torch.Tensor | None, encoder: str) -> None:
    """Encoders whose tokens come out of the network cannot hide part of the input from it."""
    if mask is not None:
        raise ValueError(
            f"{encoder} makes its tokens from the whole input, so it cannot hide masked ones; "
            "masked methods need a patch encoder (vit_tiny, vit_small, vit_base)"
        )
