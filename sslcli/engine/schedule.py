"""Learning-rate schedule: linear warmup then cosine decay to zero (Loshchilov & Hutter, SGDR, ICLR 2017)."""

import math


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total_steps``."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
