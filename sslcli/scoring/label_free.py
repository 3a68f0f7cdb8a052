"""Label-free scores of an embedding set, for picking a checkpoint without labels.

- RankMe (Garrido, Balestriero, Najman & LeCun, "RankMe: Assessing the Downstream Performance of
  Pretrained Self-Supervised Representations by Their Rank", ICML 2023): exp of the entropy of the
  L1-normalised singular values of the (N, D) embedding matrix, plus a small epsilon; higher tracked
  better downstream accuracy across the paper's runs and hyperparameters of one method (not within
  one short run on our sets: BENCHMARKS.md, "Label-free checkpoint selection").
- alpha-ReQ (Agrawal, Mondal, Ghosh & Richards, "alpha-ReQ: Assessing Representation Quality in
  Self-Supervised Learning by measuring eigenspectrum decay", NeurIPS 2022): the exponent alpha of the
  power law lambda_i ~ i^-alpha fitted to the covariance's eigenvalues; representations generalise best
  near alpha = 1 (a slower decay spreads noise over many directions, a faster one collapses), so the
  score is -|alpha - 1|.
- LiDAR (Thilak, Huang, Zhai et al., "LiDAR: Sensing Linear Probing Performance in Joint Embedding SSL
  Architectures", ICLR 2024): the effective rank (as RankMe's) of the linear discriminant matrix
  Sigma_w^-1/2 Sigma_b Sigma_w^-1/2, where each item is a surrogate class and its augmentations the
  class's samples: how many directions separate items beyond what augmenting one item moves.
"""

from __future__ import annotations

import math

import torch

RANKME_EPSILON = 1e-7  # the paper's epsilon added to each normalised singular value
LIDAR_DELTA = 1e-4  # LiDAR's ridge on the within-item covariance
SPECTRUM_FLOOR = 1e-12  # eigenvalues below this share of the largest are numerical zeros, not decay
TARGET_ALPHA = 1.0


def rankme(embeddings: torch.Tensor) -> float:
    """exp(-sum p_k log p_k), p_k = sigma_k / ||sigma||_1 + eps, over the singular values of (N, D)."""
    return effective_rank_of(torch.linalg.svdvals(embeddings.double()))  # (min(N, D),) values


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


def effective_rank_of(values: torch.Tensor) -> float:
    """exp(-sum p log p), p = values / ||values||_1 + eps, for non-negative ``values`` (1 if all are 0)."""
    total = values.sum()
    if total <= 0:
        return 1.0
    p = values / total + RANKME_EPSILON
    return math.exp(-(p * p.log()).sum().item())


def lidar(augmented: torch.Tensor, delta: float = LIDAR_DELTA) -> float:
    """LiDAR of (n items, q augmentations, D) embeddings: the effective rank of the eigenvalues of
    Sigma_w^-1/2 Sigma_b Sigma_w^-1/2, with ``delta`` added to Sigma_w's diagonal (the paper's 1e-4)."""
    x = augmented.double()
    items, views, dims = x.shape
    means = x.mean(dim=1)  # (n, D)
    between = torch.cov(means.T, correction=1).reshape(dims, dims)  # (D, D)
    deviations = (x - means[:, None]).reshape(items * views, dims)  # (n q, D)
    within = deviations.T @ deviations / (items * max(views - 1, 1)) + delta * torch.eye(dims, dtype=x.dtype)
    values, vectors = torch.linalg.eigh(within)
    inverse_root = vectors @ torch.diag(values.rsqrt()) @ vectors.T  # Sigma_w^-1/2
    lda = inverse_root @ between @ inverse_root
    return effective_rank_of(torch.linalg.eigvalsh(lda).clamp(min=0))


def label_free_scores(embeddings: torch.Tensor, augmented: torch.Tensor | None = None) -> dict[str, float]:
    """The criteria's raw values: ``rankme`` and the spectrum's ``alpha`` of the (N, D) ``embeddings``,
    and ``lidar`` of the (n, q, D) ``augmented`` ones (NaN without two of them)."""
    scores = {"rankme": rankme(embeddings), "alpha": eigenspectrum_alpha(embeddings)}
    usable = augmented is not None and augmented.shape[0] >= 2  # a covariance needs two items
    return scores | {"lidar": lidar(augmented) if usable else math.nan}


# criterion name -> its score from ``label_free_scores`` (higher is better)
CRITERIA = {
    "rankme": lambda scores: scores["rankme"],
    "alpha-req": lambda scores: -abs(scores["alpha"] - TARGET_ALPHA),  # 0 at the best decay
    "lidar": lambda scores: scores["lidar"],
}
