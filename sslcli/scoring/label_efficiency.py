"""What labels buy: accuracy against the share of the training labels kept, per class.

For each fraction f of ``FRACTIONS`` and each seed, every class keeps max(1, round(f * n_c)) of its
n_c labelled training items, drawn at random; the kNN and the linear probe are fitted on those only
and scored on the whole test set. The curve (mean and standard deviation over the seeds; one draw at
100%, where there is nothing to draw) is the semi-supervised protocol of SimCLR (Chen et al., ICML
2020, 1% and 10% of ImageNet's labels) applied to the frozen features.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

FRACTIONS = (0.01, 0.05, 0.10, 0.25, 1.0)  # the last, every label, gives eval's headline figures
SEEDS = (0, 1, 2)

# (train_x, train_y, test_x) -> predicted test classes
Classifier = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def labelled_subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Sorted indices (K,) into ``labels`` (N,): max(1, round(fraction * n_c)) random items per class."""
    generator = torch.Generator().manual_seed(seed)
    kept = []
    for label in labels.unique():
        members = (labels == label).nonzero().flatten()  # (n_c,)
        count = max(1, round(fraction * len(members)))
        kept.append(members[torch.randperm(len(members), generator=generator)[:count]])
    return torch.cat(kept).sort().values


def label_efficiency(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    classifiers: dict[str, Classifier],
    fractions: tuple[float, ...] = FRACTIONS,
    seeds: tuple[int, ...] = SEEDS,
    full: dict[str, torch.Tensor] | None = None,
) -> dict:
    """{"fractions", "labels_per_class" (mean over classes, per fraction), and per classifier name
    {"mean", "std"} of the test accuracy per fraction}. ``full``: each classifier's test predictions
    (M,) when fitted on every label, already made: used at fraction 1 instead of fitting again."""
    classes = train_y.unique()
    report: dict = {"fractions": list(fractions), "labels_per_class": [], "seeds": list(seeds)}
    accuracies: dict[str, list[list[float]]] = {name: [] for name in classifiers}
    for fraction in fractions:
        draws = seeds if fraction < 1 else seeds[:1]
        subsets = [labelled_subset(train_y, fraction, seed) for seed in draws]
        report["labels_per_class"].append(len(subsets[0]) / len(classes))
        for name, classify in classifiers.items():
            if fraction == 1 and full is not None:
                predictions = [full[name]]
            else:
                predictions = [classify(train_x[s], train_y[s], test_x) for s in subsets]
            accuracies[name].append([float((p == test_y).float().mean()) for p in predictions])
    for name, per_fraction in accuracies.items():
        values = [torch.tensor(draws) for draws in per_fraction]
        report[name] = {
            "mean": [float(v.mean()) for v in values],
            "std": [float(v.std(unbiased=False)) for v in values],
        }
    return report
