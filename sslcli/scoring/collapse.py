"""Collapse indicators of an embedding set.

- Per-dimension std of L2-normalised embeddings (Chen & He, "Exploring Simple Siamese Representation
  Learning", CVPR 2021): about 1/sqrt(D) when spread over the sphere, near 0 when collapsed.
- Effective rank (Roy & Vetterli, EUSIPCO 2007): exp of the entropy of the normalised singular values
  of the centred embeddings; 1 when everything lies on a line, D when all directions are used equally.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def normalised_std(embeddings: torch.Tensor) -> float:
    """Mean over dimensions of the std of L2-normalised rows. embeddings (N, D)."""
    return F.normalize(embeddings.float(), dim=1).std(dim=0).mean().item()


def effective_rank(embeddings: torch.Tensor) -> float:
    """exp(H(p)), p = singular values / their sum, of the centred (N, D) embeddings."""
    centred = embeddings.double() - embeddings.double().mean(dim=0)
    singular = torch.linalg.svdvals(centred)
    total = singular.sum()
    if total <= 0:
        return 1.0
    p = singular[singular > 0] / total
    return math.exp(-(p * p.log()).sum().item())


def collapse_report(embeddings: torch.Tensor) -> dict[str, float]:
    dim = embeddings.shape[1]
    return {
        "normalised_std": normalised_std(embeddings),
        "normalised_std_reference": 1 / math.sqrt(dim),
        "effective_rank": effective_rank(embeddings),
        "dim": dim,
    }
