"""One micro-batch through the method, and one optimizer step: the views to the device, the domain's
batch augmentation there, the forward under autocast, the non-finite guard, the backward."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch

from sslcli.data.loader import Batch
from sslcli.distributed import all_reduce_mean, all_reduce_min
from sslcli.domains import Domain
from sslcli.engine.acceleration import channels_last_views
from sslcli.engine.batch_fit import MIN_BATCH
from sslcli.errors import UserError
from sslcli.methods import StepContext


class NonFiniteLossError(UserError):
    """The loss became NaN or infinite; the run stops before the optimizer step."""


@dataclass
class MicroStep:
    """What one micro-batch trained: its items (0: too few to learn from), the loss and the method's
    logs, each the mean over ranks."""

    items: int
    loss: float = math.nan
    logs: dict[str, float] | None = None


def forward_backward(
    model: torch.nn.Module,
    log_names: tuple[str, ...],
    batch: Batch,
    domain: Domain,
    device: torch.device,
    autocast: Callable[[], AbstractContextManager],
    context: Callable[[torch.Tensor], StepContext],
    accumulate: int,
    advice: Callable[[float], str],
) -> MicroStep:
    """Forward and backward one micro-batch through ``model`` (the method, or its DDP wrapper). Under
    torchrun every rank trains on as many items as the smallest batch holds (a bad file may have
    shortened one), so gathered tensors line up. A non-finite loss stops every rank with
    ``advice(loss)``, before any gradient is applied."""
    count = all_reduce_min(len(batch))
    if count < MIN_BATCH:
        return MicroStep(0)
    views = [  # each {"image": (B, C, H, W)} or the domain's inputs
        {name: t[:count].to(device, non_blocking=True) for name, t in view.items()} for view in batch.views
    ]
    with torch.no_grad():
        views = domain.batch_augment(views)
    views = channels_last_views(views)
    indices = torch.tensor(batch.positions[:count], device=device)  # (B,)
    with autocast():
        output = model(views, context(indices))
    logs = [float(output.logs[name]) for name in log_names]
    recorded = all_reduce_mean(torch.tensor([output.loss.item(), *logs], dtype=torch.float64))
    loss = float(recorded[0])
    if not math.isfinite(loss):  # every rank sees the same mean, so all stop together
        raise NonFiniteLossError(advice(loss))
    (output.loss / accumulate).backward()
    return MicroStep(count, loss, dict(zip(log_names, recorded[1:].tolist(), strict=True)))


def optimizer_step(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Apply the accumulated gradients at ``lr`` and clear them."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def make_optimizer(
    method: torch.nn.Module, name: str, lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """AdamW (``adamw``) or SGD with momentum 0.9 (``sgd``) over the trainable parameters."""
    params = [p for p in method.parameters() if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
