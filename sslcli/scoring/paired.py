"""Whether the pretrained encoder's lead over a baseline is more than chance: McNemar's exact test.

Two classifiers scored on the same test items differ only on the discordant ones, which one gets right
and the other wrong; items both get right or both wrong say nothing about which is better. McNemar's
test (Psychometrika 1947) asks whether the discordant items split evenly, the test Dietterich
recommends for comparing two classifiers on one test set (Neural Computation 1998). Its exact form is a
two-sided binomial test of the split against 1/2. On a small test set an accuracy lead of a few items
is often within chance, and this says so.
"""

from __future__ import annotations

import torch
from scipy.stats import binomtest


def mcnemar(right: torch.Tensor, baseline_right: torch.Tensor) -> dict[str, int | float]:
    """right, baseline_right (M,) bool: the test items each classifier got right ->
    {"pretrained_only", "baseline_only": discordant counts, "p_value": two-sided exact p}."""
    ours = int((right & ~baseline_right).sum())
    theirs = int((~right & baseline_right).sum())
    discordant = ours + theirs
    p_value = binomtest(ours, discordant, 0.5).pvalue if discordant else 1.0
    return {"pretrained_only": ours, "baseline_only": theirs, "p_value": float(p_value)}


def paired_report(predictions: dict[str, dict[str, torch.Tensor]], labels: torch.Tensor) -> dict:
    """predictions[encoder][protocol] (M,) predicted classes, labels (M,) -> per protocol, per
    baseline encoder, McNemar's test of the pretrained encoder against it."""
    right = {which: {name: p == labels for name, p in by.items()} for which, by in predictions.items()}
    return {
        name: {
            which: mcnemar(right["pretrained"][name], right[which][name])
            for which in right
            if which != "pretrained"
        }
        for name in right["pretrained"]
    }
