"""Linear probe: L2-regularised multinomial logistic regression on frozen, standardised features.

The L2 weight is not fixed: it is chosen from a log-spaced grid by stratified k-fold cross-validation
on the training labels, then the probe is refitted on all of them, as in the transfer protocol of
Kornblith et al. (CVPR 2019, "Do Better ImageNet Models Transfer Better?") and SimCLR's linear
evaluation (Chen et al., ICML 2020, appendix B.8). The weight a probe needs depends on the feature
width and on how many labelled items there are, so no fixed weight suits every encoder and data set.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

WEIGHT_DECAYS = tuple(10.0**exponent for exponent in range(0, -7, -1))  # 1 .. 1e-6, strongest first
FALLBACK_WEIGHT_DECAY = 1e-4  # where some class has a single label and no fold can be held out
FOLDS = 3
PATIENCE = 2  # weaker weights tried after the best before the path stops


@dataclass
class Design:
    """Standardised training features, in an orthonormal basis of their row space when it has fewer
    dimensions than the features: the L2-optimal W lies in that space (representer theorem), so the
    fit there is the same fit with min(N, F) instead of F weights per class."""

    mean: torch.Tensor  # (F,)
    std: torch.Tensor  # (F,)
    basis: torch.Tensor | None  # (R=N, F), orthonormal rows; None (R=F): the features' own axes
    z: torch.Tensor  # (N, R)

    @classmethod
    def of(cls, x: torch.Tensor) -> Design:
        """(N, F) training features."""
        mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)  # (F,)
        standardised = (x - mean) / std  # (N, F)
        if x.shape[0] >= x.shape[1]:
            return cls(mean, std, None, standardised)
        u, s, basis = torch.linalg.svd(standardised, full_matrices=False)  # (N, N), (N,), (N, F)
        return cls(mean, std, basis, u * s)


@dataclass
class LinearProbe:
    mean: torch.Tensor  # (F,)
    std: torch.Tensor  # (F,)
    weight: torch.Tensor  # (F, C)
    bias: torch.Tensor  # (C,)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(M, F) -> (M, C)."""
        return (x - self.mean) / self.std @ self.weight + self.bias


def fit_probe(
    design: Design,
    labels: torch.Tensor,
    num_classes: int,
    weight_decay: float,
    max_iter: int = 200,
    start: LinearProbe | None = None,
) -> LinearProbe:
    """Full-batch L-BFGS on cross-entropy + weight_decay * |W|^2; ``start`` (fitted on the same
    design) warm-starts W and b."""
    z, basis = design.z, design.basis  # (N, R), (R, F) or None
    if start is None:
        weight, bias = torch.zeros(z.shape[1], num_classes), torch.zeros(num_classes)  # (R, C), (C,)
    else:
        weight = start.weight.clone() if basis is None else basis @ start.weight  # (R, C)
        bias = start.bias.clone()
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(z @ weight + bias, labels) + weight_decay * weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    weight = weight.detach() if basis is None else basis.T @ weight.detach()  # (F, C)
    return LinearProbe(design.mean, design.std, weight, bias.detach())


def stratified_folds(labels: torch.Tensor, folds: int) -> torch.Tensor:
    """Fold index (N,) of each item: every class's items are dealt round-robin over the folds in a
    fixed random order, so each fold holds about 1/folds of every class."""
    generator = torch.Generator().manual_seed(0)
    fold = torch.empty_like(labels)
    for label in labels.unique():
        members = (labels == label).nonzero().flatten()  # (n_c,)
        members = members[torch.randperm(len(members), generator=generator)]
        fold[members] = torch.arange(len(members)) % folds
    return fold


def chosen_weight_decay(
    x: torch.Tensor, labels: torch.Tensor, num_classes: int, weight_decays: tuple[float, ...] = WEIGHT_DECAYS
) -> float:
    """The weight of ``weight_decays`` (strongest first) with the best held-out accuracy summed over the
    folds (ties: the lower held-out cross-entropy). The path stops once ``PATIENCE`` weaker weights in a
    row did no better. ``FALLBACK_WEIGHT_DECAY`` when the smallest class has fewer than 2 items."""
    folds = min(FOLDS, int(labels.unique(return_counts=True)[1].min()))
    if folds < 2:
        return FALLBACK_WEIGHT_DECAY
    fold = stratified_folds(labels, folds)
    designs = [Design.of(x[fold != held_out]) for held_out in range(folds)]
    probes: list[LinearProbe | None] = [None] * folds  # each fold's last fit warm-starts its next
    best, best_score, worse = weight_decays[0], (-1.0, 0.0), 0
    for weight_decay in weight_decays:
        score = torch.zeros(2, dtype=torch.float64)  # [correct, -cross-entropy], summed over the folds
        for held_out in range(folds):
            fit, check = fold != held_out, fold == held_out
            probes[held_out] = fit_probe(
                designs[held_out], labels[fit], num_classes, weight_decay, start=probes[held_out]
            )
            logits = probes[held_out].logits(x[check])  # (n_check, C)
            score[0] += (logits.argmax(1) == labels[check]).sum()
            score[1] -= F.cross_entropy(logits, labels[check], reduction="sum")
        if tuple(score.tolist()) > best_score:
            best, best_score, worse = weight_decay, tuple(score.tolist()), 0
        else:
            worse += 1
            if worse == PATIENCE:
                break
    return best


def linear_probe_predict(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    num_classes: int,
    weight_decay: float | None = None,
) -> torch.Tensor:
    """Fit on (train (N, F), train_labels (N,)) with ``weight_decay`` (None: cross-validated on them),
    return the predicted classes of test (M, F) -> (M,)."""
    if weight_decay is None:
        weight_decay = chosen_weight_decay(train, train_labels, num_classes)
    return fit_probe(Design.of(train), train_labels, num_classes, weight_decay).logits(test).argmax(dim=1)
