"""Label-free scores of an embedding set, for picking a checkpoint without labels.

- RankMe (Garrido, Balestriero, Najman & LeCun, "RankMe: Assessing the Downstream Performance of
  Pretrained Self-Supervised Representations by Their Rank", ICML 2023): exp of the entropy of the
  L1-normalised singular values of the (N, D) embedding matrix, plus a small epsilon; higher tracks
  better downstream accuracy across checkpoints of one method.
- alpha-ReQ (Agrawal, Mondal, Ghosh & Richards, "alpha-ReQ: Assessing Representation Quality in
  Self-Supervised Learning by measuring eigenspectrum decay", NeurIPS 2022): the exponent alpha of the
  power law lambda_i ~ i^-alpha fitted to the covariance's eigenvalues; representations generalise best
  near alpha = 1 (a slower decay spreads noise over many directions, a faster one collapses), so the
  score is -|alpha - 1|.
"""

from __future__ import annotations

import math

import torch

RANKME_EPSILON = 1e-7  # the paper's epsilon added to each normalised singular value
SPECTRUM_FLOOR = 1e-12  # eigenvalues below this share of the largest are numerical zeros, not decay
TARGET_ALPHA = 1.0


def rankme(embeddings: torch.Tensor) -> float:
    """exp(-sum p_k log p_k), p_k = sigma_k / ||sigma||_1 + eps, over the singular values of (N, D)."""
    singular = torch.linalg.svdvals(embeddings.double())  # (min(N, D),)
    total = singular.sum()
    if total <= 0:
        return 1.0
    p = singular / total + RANKME_EPSILON
    return math.exp(-(p * p.log()).sum().item())


def eigenspectrum_alpha(embeddings: torch.Tensor) -> float:
    """alpha of the least-squares line log lambda_i = c - alpha log i over the non-zero eigenvalues of
    the covariance of the (N, D) embeddings (inf when fewer than two are non-zero: everything collapsed)."""
    centred = embeddings.double() - embeddings.double().mean(dim=0)
    eigenvalues = torch.linalg.svdvals(centred).square() / max(1, centred.shape[0] - 1)  # descending
    kept = eigenvalues[eigenvalues > eigenvalues[0] * SPECTRUM_FLOOR]  # none when everything is equal
    if kept.numel() < 2:
        return math.inf
    log_rank = torch.arange(1, kept.numel() + 1, dtype=torch.float64).log()  # (K,)
    log_value = kept.log()
    x, y = log_rank - log_rank.mean(), log_value - log_value.mean()
    return -(x * y).sum().item() / (x * x).sum().item()


def label_free_scores(embeddings: torch.Tensor) -> dict[str, float]:
    """Both criteria's raw values for the (N, D) embeddings: ``rankme`` and the spectrum's ``alpha``."""
    return {"rankme": rankme(embeddings), "alpha": eigenspectrum_alpha(embeddings)}


# criterion name -> its score from ``label_free_scores`` (higher is better)
CRITERIA = {
    "rankme": lambda scores: scores["rankme"],
    "alpha-req": lambda scores: -abs(scores["alpha"] - TARGET_ALPHA),  # 0 at the best decay
}
