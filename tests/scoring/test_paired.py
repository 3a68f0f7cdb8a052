"""McNemar's exact test of the pretrained encoder against a baseline, against the binomial sum by hand."""

from __future__ import annotations

import math

import pytest
import torch

from sslcli.scoring.paired import mcnemar, paired_report


def two_sided_binomial(ours: int, theirs: int) -> float:
    """min(1, 2 P(X <= min)) for X ~ Binomial(ours + theirs, 1/2), summed term by term."""
    n, low = ours + theirs, min(ours, theirs)
    return min(1.0, 2 * sum(math.comb(n, k) for k in range(low + 1)) / 2**n)


def right_and_baseline(ours: int, theirs: int, both: int, neither: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(M,) bool right-answer masks with the given counts of each agreement case, interleaved."""
    cases = (
        [(True, False)] * ours + [(False, True)] * theirs + [(True, True)] * both + [(False, False)] * neither
    )
    order = torch.randperm(len(cases), generator=torch.Generator().manual_seed(0))
    shuffled = [cases[i] for i in order]
    return torch.tensor([a for a, _ in shuffled]), torch.tensor([b for _, b in shuffled])


@pytest.mark.parametrize("ours, theirs", [(10, 0), (7, 2), (2, 1), (3, 3), (0, 4)])
def test_counts_the_discordant_items_and_matches_the_binomial_sum(ours, theirs):
    right, baseline = right_and_baseline(ours, theirs, both=30, neither=5)
    test = mcnemar(right, baseline)
    assert (test["pretrained_only"], test["baseline_only"]) == (ours, theirs)
    assert test["p_value"] == pytest.approx(two_sided_binomial(ours, theirs))


def test_ten_to_none_is_significant_and_an_even_split_is_not():
    assert mcnemar(*right_and_baseline(10, 0, 5, 5))["p_value"] == pytest.approx(2 / 2**10)
    assert mcnemar(*right_and_baseline(4, 4, 5, 5))["p_value"] == 1.0


def test_no_discordant_item_is_no_evidence():
    same = torch.tensor([True, False, True])
    assert mcnemar(same, same) == {"pretrained_only": 0, "baseline_only": 0, "p_value": 1.0}


def test_report_compares_the_pretrained_encoder_with_each_baseline_per_protocol():
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    predictions = {
        "pretrained": {"knn": labels.clone(), "linear": torch.tensor([0, 1, 2, 0, 0, 0])},
        "random_init": {"knn": torch.zeros(6, dtype=torch.long), "linear": labels.clone()},
        "raw_input": {"knn": labels.clone(), "linear": torch.tensor([1, 1, 2, 0, 1, 0])},
    }
    report = paired_report(predictions, labels)
    assert set(report) == {"knn", "linear"} and set(report["knn"]) == {"random_init", "raw_input"}
    assert report["knn"]["random_init"]["pretrained_only"] == 4  # random init guesses class 0 for all
    assert report["knn"]["raw_input"] == {"pretrained_only": 0, "baseline_only": 0, "p_value": 1.0}
    assert report["linear"]["random_init"] == {"pretrained_only": 0, "baseline_only": 2, "p_value": 0.5}
    assert (
        report["linear"]["raw_input"]["pretrained_only"],
        report["linear"]["raw_input"]["baseline_only"],
    ) == (1, 1)
