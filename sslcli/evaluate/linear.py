"""Linear probe: multinomial logistic regression on frozen, standardised features (full-batch L-BFGS)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def linear_probe_predict(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    num_classes: int,
    weight_decay: float = 1e-4,
    max_iter: int = 200,
) -> torch.Tensor:
    """Fit on (train (N, F), train_labels (N,)), return predicted classes of test (M, F) -> (M,)."""
    mean, std = train.mean(0), train.std(0, unbiased=False).clamp_min(1e-6)  # (F,)
    x_train, x_test = (train - mean) / std, (test - mean) / std
    weight = torch.zeros(train.shape[1], num_classes, requires_grad=True)  # (F, C)
    bias = torch.zeros(num_classes, requires_grad=True)  # (C,)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x_train @ weight + bias, train_labels) + weight_decay * weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        return (x_test @ weight + bias).argmax(dim=1)
