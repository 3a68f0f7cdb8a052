"""The linear probe against scikit-learn's logistic regression, and its cross-validated L2 weight."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from sslcli.scoring.linear import (
    FALLBACK_WEIGHT_DECAY,
    Design,
    chosen_weight_decay,
    fit_probe,
    stratified_folds,
)


def blobs(n: int, features: int, informative: int, classes: int, seed: int, spread: float = 1.0):
    """Classes apart along the first ``informative`` features only; the rest is noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=n)
    x = rng.normal(size=(n, features))
    x[:, :informative] += spread * rng.normal(size=(classes, informative))[labels]
    return torch.tensor(x, dtype=torch.float32), torch.tensor(labels)


@pytest.mark.parametrize("weight_decay", [1e-2, 1e-1])
def test_the_probe_is_sklearns_multinomial_logistic_regression(weight_decay):
    x, y = blobs(120, 6, 3, 3, seed=0)
    probe = fit_probe(Design.of(x), y, 3, weight_decay, max_iter=500)
    standardised = ((x - x.mean(0)) / x.std(0, unbiased=False)).double().numpy()
    # ours: mean cross-entropy + wd |W|^2; sklearn's: C * summed cross-entropy + |W|^2 / 2
    reference = LogisticRegression(C=1 / (2 * weight_decay * len(y)), tol=1e-10, max_iter=5000)
    reference.fit(standardised, y.numpy())
    expected = reference.predict_proba(standardised)
    ours = torch.softmax(probe.logits(x).double(), dim=1).numpy()
    np.testing.assert_allclose(ours, expected, atol=2e-4)


def test_more_features_than_items_fit_in_the_row_space_to_the_same_probe():
    x, y = blobs(40, 300, 5, 4, seed=5)
    in_row_space = Design.of(x)
    assert in_row_space.basis is not None and in_row_space.z.shape == (40, 40)
    in_feature_axes = Design(
        in_row_space.mean, in_row_space.std, None, (x - in_row_space.mean) / in_row_space.std
    )
    queries = torch.randn(25, 300, generator=torch.Generator().manual_seed(6))
    expected = fit_probe(in_feature_axes, y, 4, 1e-2, max_iter=1000).logits(queries)
    ours = fit_probe(in_row_space, y, 4, 1e-2, max_iter=1000).logits(queries)
    torch.testing.assert_close(ours, expected, atol=2e-3, rtol=1e-3)


def test_folds_deal_every_class_evenly():
    labels = torch.tensor([0] * 9 + [1] * 7 + [2] * 3)
    fold = stratified_folds(labels, 3)
    for label in range(3):
        per_fold = fold[labels == label].bincount(minlength=3)
        assert per_fold.max() - per_fold.min() <= 1
    assert sorted(fold.unique().tolist()) == [0, 1, 2]


def test_cross_validation_keeps_the_signal_and_refuses_to_fit_noise():
    """A weight of 1e3 leaves W ~ 0: the probe predicts the majority class. It must lose to 1e-3 where
    the features carry the classes, and win where they are noise and the classes are 70/30."""
    grid = (1e3, 1e-3)
    x, y = blobs(90, 20, 20, 2, seed=3, spread=2.0)
    assert chosen_weight_decay(x, y, 2, grid) == 1e-3
    noise = torch.randn(90, 60, generator=torch.Generator().manual_seed(4))
    majority = (torch.arange(90) % 10 >= 3).long()  # 63 of class 1, 27 of class 0
    assert chosen_weight_decay(noise, majority, 2, grid) == 1e3


def test_a_class_with_one_label_falls_back_to_the_fixed_weight():
    x, y = blobs(30, 5, 5, 3, seed=2)
    y[0], y[1:][y[1:] == 2] = 2, 1  # class 2 keeps a single item
    assert chosen_weight_decay(x, y, 3) == FALLBACK_WEIGHT_DECAY
