"""Learning-rate schedule: linear warmup then cosine decay to zero (Loshchilov & Hutter, SGDR, ICLR 2017)."""

import math

# warmup's share of the planned steps when the config names no ``warmup_epochs``: a run of a few hundred
# steps warms up over tens of them, not over a whole epoch (SimCLR warms up 10 of 100-1000 epochs)
WARMUP_SHARE = 0.05


def warmup_steps(warmup_epochs: float | None, steps_per_epoch: int, total_steps: int) -> int:
    """Optimizer steps of linear warmup: ``warmup_epochs`` epochs, else ``WARMUP_SHARE`` of the total."""
    if warmup_epochs is not None:
        return round(warmup_epochs * steps_per_epoch)
    return max(1, round(WARMUP_SHARE * total_steps))


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total_steps``."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
