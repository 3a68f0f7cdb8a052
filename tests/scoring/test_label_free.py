"""The label-free criteria against matrices whose spectra are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sslcli.scoring.label_free import CRITERIA, eigenspectrum_alpha, label_free_scores, lidar, rankme


def orthonormal_columns(rows: int, columns: int, seed: int, centred: bool = False) -> torch.Tensor:
    """(rows, columns) with orthonormal columns; ``centred``: also orthogonal to the ones vector."""
    generator = torch.Generator().manual_seed(seed)
    raw = torch.randn(rows, columns + 1, generator=generator, dtype=torch.float64)
    if centred:
        raw = raw - raw.mean(dim=0)
    return torch.linalg.qr(raw)[0][:, :columns]


def with_singular_values(values: torch.Tensor, rows: int = 300, centred: bool = False) -> torch.Tensor:
    """U diag(values) V^T: an (rows, len(values)) matrix with exactly these singular values."""
    u = orthonormal_columns(rows, len(values), seed=1, centred=centred)
    v = orthonormal_columns(len(values), len(values), seed=2)
    return u @ torch.diag(values) @ v.T


def test_rankme_is_the_exponential_entropy_of_the_normalised_singular_values():
    values = torch.tensor([5.0, 3.0, 1.0, 0.5, 0.5], dtype=torch.float64)
    p = values / values.sum() + 1e-7
    expected = math.exp(-(p * p.log()).sum().item())
    assert rankme(with_singular_values(values)) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("used", [1, 4, 32])
def test_rankme_counts_equally_used_directions(used):
    values = torch.cat([torch.ones(used), torch.zeros(64 - used)]).double()
    assert rankme(with_singular_values(values)) == pytest.approx(used, rel=1e-3)  # the epsilon adds a little


def test_rankme_of_all_zeros_is_one_direction():
    assert rankme(torch.zeros(10, 4)) == 1.0


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.3])
def test_alpha_is_the_exponent_of_a_power_law_spectrum(alpha):
    rows, dims = 400, 48
    eigenvalues = torch.arange(1, dims + 1, dtype=torch.float64) ** -alpha  # the covariance's
    embeddings = with_singular_values((eigenvalues * (rows - 1)).sqrt(), rows, centred=True)
    assert eigenspectrum_alpha(embeddings + 3.0) == pytest.approx(alpha, abs=1e-9)  # the mean is removed
    score = CRITERIA["alpha-req"](label_free_scores(embeddings))
    assert score == pytest.approx(-abs(alpha - 1.0), abs=1e-9)


def test_collapsed_embeddings_get_the_worst_alpha_score():
    collapsed = torch.ones(50, 8) * torch.randn(1, 8)
    assert CRITERIA["alpha-req"](label_free_scores(collapsed)) == -math.inf


def test_lidar_is_the_effective_rank_of_the_generalised_eigenvalues_of_between_and_within():
    from scipy.linalg import eigh

    generator = torch.Generator().manual_seed(0)
    items, views, dims = 40, 6, 12
    centres = torch.randn(items, 1, dims, generator=generator) * torch.linspace(0.1, 3, dims)
    augmented = centres + 0.5 * torch.randn(items, views, dims, generator=generator, dtype=torch.float64)
    x = augmented.numpy()
    means = x.mean(axis=1)
    between = np.cov(means.T)
    deviations = (x - means[:, None]).reshape(-1, dims)
    within = deviations.T @ deviations / (items * (views - 1)) + 1e-4 * np.eye(dims)
    values = np.clip(eigh(between, within, eigvals_only=True), 0, None)  # Sigma_b v = l Sigma_w v
    p = values / values.sum() + 1e-7
    assert lidar(augmented) == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-9)


def test_lidar_ignores_an_invertible_linear_map_of_the_embeddings():
    generator = torch.Generator().manual_seed(1)
    augmented = torch.randn(30, 5, 8, generator=generator, dtype=torch.float64)
    augmented += 2 * torch.randn(30, 1, 8, generator=generator, dtype=torch.float64)
    mixing = torch.randn(8, 8, generator=generator, dtype=torch.float64) + 3 * torch.eye(8)
    assert lidar(augmented @ mixing, delta=0.0) == pytest.approx(lidar(augmented, delta=0.0), rel=1e-6)
