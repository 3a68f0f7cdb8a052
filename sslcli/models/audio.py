"""A convolutional encoder for log-mel spectrograms that keeps time: one feature per time step.

Niizumi et al., "BYOL for Audio: Self-Supervised Learning for General-Purpose Audio
Representation", IJCNN 2021 (their encoder after Koizumi et al., DCASE 2020): three blocks of
3x3 convolution, batch norm, ReLU and 2x2 max-pooling over (mels, frames), then each time step's
frequency x channel column through two fully connected layers. ``tokens`` are those time steps
(what CPC predicts); ``forward`` is their mean (BYOL-A adds the max; the mean keeps the toolkit's
contract that ``forward`` pools ``tokens``).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from sslcli.models.protocol import refuse_mask

CONV_BLOCKS = 3  # each halves mels and frames
CHANNELS = 64
DROPOUT = 0.3  # BYOL-A's, between the two fully connected layers


def conv_block(in_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, CHANNELS, 3, padding=1),
        nn.BatchNorm2d(CHANNELS),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class SpectrogramCNN(nn.Module):
    """(B, C, mels, frames) -> (B, D) pooled, or ``tokens`` = ``time_steps`` (B, frames // 8, D)."""

    def __init__(self, size: tuple[int, int], in_channels: int = 1, feature_dim: int = 2048):
        super().__init__()
        mels, frames = size
        if min(mels, frames) < 2**CONV_BLOCKS:
            raise ValueError(
                f"spec_cnn needs at least {2**CONV_BLOCKS} mel bands and frames, got {mels} x {frames}"
            )
        self.feature_dim = feature_dim
        self.convs = nn.Sequential(
            *(conv_block(in_channels if i == 0 else CHANNELS) for i in range(CONV_BLOCKS))
        )
        column = CHANNELS * (mels // 2**CONV_BLOCKS)
        self.columns = nn.Sequential(
            nn.Linear(column, feature_dim),
            nn.ReLU(inplace=True),
            nn.Dropout(DROPOUT),
            nn.Linear(feature_dim, feature_dim),
            nn.ReLU(inplace=True),
        )

    def tokens(self, spectrograms: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        refuse_mask(mask, "spec_cnn")
        x = self.convs(spectrograms)  # (B, 64, mels / 8, frames / 8)
        x = x.permute(0, 3, 1, 2).flatten(2)  # (B, T, 64 * mels / 8), one column per time step
        return self.columns(x)  # (B, T, D)

    def time_steps(self, spectrograms: torch.Tensor) -> torch.Tensor:
        return self.tokens(spectrograms)  # (B, T, D): the tokens are time steps

    def forward(self, spectrograms: torch.Tensor) -> torch.Tensor:
        return self.tokens(spectrograms).mean(dim=1)  # (B, D)
