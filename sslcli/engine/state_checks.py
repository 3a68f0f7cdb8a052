"""One-line descriptions of why saved tensors do not fit a model (shared by checkpoints and encoders)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch


def state_dict_mismatch(saved: Mapping[str, Any], expected: Mapping[str, Any]) -> str | None:
    """One line naming what keeps ``saved`` from loading into a module whose state dict is
    ``expected``: missing and unexpected keys, non-tensors, shape mismatches (first few of each,
    then "and N more"); ``None`` when every key and shape fits."""
    missing = [key for key in expected if key not in saved]
    unexpected = [str(key) for key in saved if key not in expected]
    not_tensors, shapes = [], []
    for key, want in expected.items():
        if key not in saved or not isinstance(want, torch.Tensor):
            continue
        got = saved[key]
        if not isinstance(got, torch.Tensor):
            not_tensors.append(f"{key} ({type(got).__name__})")
        elif got.shape != want.shape:
            shapes.append(f"{key} {shape_text(got)} in the file vs {shape_text(want)} in the model")
    parts = []
    if missing:
        parts.append(f"missing {few(missing)}")
    if unexpected:
        parts.append(f"unexpected {few(unexpected)}")
    if not_tensors:
        parts.append(f"not tensors: {few(not_tensors)}")
    if shapes:
        parts.append(f"shape mismatch: {few(shapes)}")
    return "; ".join(parts) or None


def one_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return " ".join(lines) or type(err).__name__


def few(items: Iterable[str], limit: int = 3) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def shape_text(tensor: torch.Tensor) -> str:
    return str(tuple(tensor.shape))
