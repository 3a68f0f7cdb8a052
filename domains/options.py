"""Validation shared by the domains' augmentation-option dataclasses."""

from __future__ import annotations


def check_crop_and_probabilities(options: object, probability_fields: tuple[str, ...]) -> None:
    """``options.crop_scale`` is 0 < min <= max <= 1 and each named field is a probability."""
    low, high = options.crop_scale
    if not 0 < low <= high <= 1:
        raise ValueError(f"crop_scale must satisfy 0 < min <= max <= 1, got {options.crop_scale}")
    for name in probability_fields:
        if not 0 <= getattr(options, name) <= 1:
            raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(options, name)}")
