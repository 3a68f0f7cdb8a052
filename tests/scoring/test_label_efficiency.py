"""The label-efficiency curve: per-class label subsets of the stated size, and accuracies averaged over
seeds as a hand count gives them."""

from __future__ import annotations

import pytest
import torch

from sslcli.scoring.knn import knn_predict
from sslcli.scoring.label_efficiency import label_efficiency, labelled_subset

LABELS = torch.tensor([0] * 40 + [1] * 10 + [2] * 3)  # (53,) unbalanced classes


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.25, 0.5, 1.0])
def test_each_class_keeps_its_share_and_at_least_one(fraction):
    kept = labelled_subset(LABELS, fraction, seed=0)
    assert kept.tolist() == sorted(set(kept.tolist()))
    for label, size in ((0, 40), (1, 10), (2, 3)):
        assert int((LABELS[kept] == label).sum()) == max(1, round(fraction * size))


def test_seeds_draw_different_items_and_a_seed_draws_the_same_ones():
    draws = [labelled_subset(LABELS, 0.25, seed).tolist() for seed in (0, 0, 1)]
    assert draws[0] == draws[1] and draws[0] != draws[2]


def test_separable_features_score_one_at_every_fraction():
    codes = torch.eye(3)[LABELS] + 0.01 * torch.randn(len(LABELS), 3)  # (N, 3): one direction per class
    knn = lambda x, y, q: knn_predict(x, y, q, 3, k=5)  # noqa: E731
    curve = label_efficiency(codes, LABELS, codes, LABELS, {"knn": knn}, fractions=(0.05, 0.5, 1.0))
    assert curve["knn"]["mean"] == [1.0, 1.0, 1.0] and curve["knn"]["std"] == [0.0, 0.0, 0.0]
    assert curve["labels_per_class"] == [(2 + 1 + 1) / 3, (20 + 5 + 2) / 3, 53 / 3]


def test_accuracies_are_the_mean_and_spread_over_the_seeds_draws():
    test_y = torch.tensor([0, 1, 1, 2])

    def first_train_label(x, y, q):  # predicts, for every test item, the label of the first kept item
        return y[:1].expand(len(q))

    curve = label_efficiency(
        torch.zeros(len(LABELS), 1), LABELS, torch.zeros(4, 1), test_y, {"first": first_train_label},
        fractions=(0.1,), seeds=(0, 1, 2),
    )  # fmt: skip
    by_hand = []  # the first kept item of every draw has label 0 (the subsets are sorted): accuracy 1/4
    for seed in (0, 1, 2):
        first = int(LABELS[labelled_subset(LABELS, 0.1, seed)[0]])
        by_hand.append(float((test_y == first).float().mean()))
    assert curve["first"]["mean"] == [pytest.approx(sum(by_hand) / 3)]
    assert curve["first"]["std"] == [pytest.approx(float(torch.tensor(by_hand).std(unbiased=False)))]


def test_predictions_made_with_every_label_are_reused_not_refitted():
    test_y = torch.tensor([0, 1, 2, 2])

    def refuses_every_label(x, y, q):  # the full-label point must come from ``full``
        assert len(y) < len(LABELS), "fitted again on every label"
        return torch.zeros(len(q), dtype=torch.long)

    full = {"probe": torch.tensor([0, 1, 2, 0])}
    curve = label_efficiency(
        torch.zeros(len(LABELS), 1), LABELS, torch.zeros(4, 1), test_y, {"probe": refuses_every_label},
        fractions=(0.1, 1.0), full=full,
    )  # fmt: skip
    assert curve["probe"]["mean"] == [0.25, 0.75]
