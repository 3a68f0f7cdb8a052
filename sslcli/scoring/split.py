"""Deterministic stratified train/test split of a labelled item list."""

from __future__ import annotations

import random
from collections import defaultdict


def stratified_split(
    labels: list[str], test_fraction: float = 0.2, seed: int = 0
) -> tuple[list[int], list[int]]:
    """(train, test) index lists; every class with >= 2 items puts at least one in each part."""
    by_class: dict[str, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_class[label].append(index)
    rng = random.Random(seed)
    train, test = [], []
    for label in sorted(by_class):
        members = by_class[label][:]
        rng.shuffle(members)
        n_test = min(len(members) - 1, max(1, round(len(members) * test_fraction))) if len(members) > 1 else 0
        test += members[:n_test]
        train += members[n_test:]
    return sorted(train), sorted(test)
