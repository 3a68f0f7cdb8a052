"""kNN, linear probe, collapse indicators and the split, against independent references."""

import math
from collections import Counter

import numpy as np
import pytest
import torch

from sslcli.scoring.collapse import effective_rank, normalised_std
from sslcli.scoring.knn import knn_predict
from sslcli.scoring.linear import linear_probe_predict
from sslcli.scoring.split import stratified_split


def naive_knn(train, labels, test, num_classes, k, temperature):
    """Per-query loop with explicit cosine similarities and sorted neighbours."""
    out = []
    for query in test:
        sims = [float(np.dot(query, row) / (np.linalg.norm(query) * np.linalg.norm(row))) for row in train]
        order = sorted(range(len(train)), key=lambda j: -sims[j])[:k]
        votes = [0.0] * num_classes
        for j in order:
            votes[int(labels[j])] += math.exp(sims[j] / temperature)
        out.append(int(np.argmax(votes)))
    return out


@pytest.mark.parametrize("k,temperature", [(1, 0.1), (5, 0.07), (20, 0.5)])
def test_knn_matches_a_naive_loop(k, temperature):
    rng = np.random.default_rng(k)
    train, test = rng.normal(size=(60, 6)), rng.normal(size=(25, 6))
    labels = rng.integers(0, 4, size=60)
    predicted = knn_predict(
        torch.tensor(train), torch.tensor(labels), torch.tensor(test), 4, k, temperature, chunk=7
    )
    assert predicted.tolist() == naive_knn(train, labels, test, 4, k, temperature)


def test_knn_with_k_larger_than_the_bank_uses_every_neighbour():
    train = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    predicted = knn_predict(
        train, torch.tensor([0, 0, 1]), torch.tensor([[0.1, 1.0]]), 2, k=50, temperature=0.1
    )
    assert predicted.tolist() == [1]


def test_linear_probe_separates_linearly_separable_classes():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=5, size=(3, 8))
    labels = rng.integers(0, 3, size=150)
    x = centres[labels] + rng.normal(size=(150, 8))
    x = torch.tensor(x, dtype=torch.float32)
    y = torch.tensor(labels)
    predicted = linear_probe_predict(x[:100], y[:100], x[100:], 3)
    assert (predicted == y[100:]).float().mean() == 1.0


def test_effective_rank_closed_forms():
    line = torch.outer(torch.arange(10.0), torch.tensor([1.0, 2.0, 3.0]))  # rank 1
    assert effective_rank(line) == pytest.approx(1.0)
    # centred rows +-e_i: singular values all equal -> effective rank = D
    basis = torch.cat([torch.eye(4), -torch.eye(4)])
    assert effective_rank(basis) == pytest.approx(4.0)


def test_normalised_std_of_collapsed_and_spread_embeddings():
    assert normalised_std(torch.ones(50, 16) * 3) == pytest.approx(0.0, abs=1e-7)
    spread = torch.randn(20000, 64, generator=torch.Generator().manual_seed(0))
    assert normalised_std(spread) == pytest.approx(1 / math.sqrt(64), rel=0.02)


def test_stratified_split_is_deterministic_disjoint_and_per_class():
    labels = ["a"] * 10 + ["b"] * 5 + ["c"] * 2 + ["d"]
    train, test = stratified_split(labels, test_fraction=0.2, seed=0)
    assert (train, test) == stratified_split(labels, test_fraction=0.2, seed=0)
    assert sorted(train + test) == list(range(len(labels)))
    assert Counter(labels[i] for i in test) == {"a": 2, "b": 1, "c": 1}
    assert "d" not in {labels[i] for i in test}
