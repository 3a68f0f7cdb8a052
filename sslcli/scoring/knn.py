"""Weighted kNN classifier on cosine similarity.

Wu et al., "Unsupervised Feature Learning via Non-Parametric Instance Discrimination", CVPR 2018:
each of the k nearest training features votes for its class with weight exp(similarity / T).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def knn_predict(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.1,
    chunk: int = 1024,
) -> torch.Tensor:
    """Predicted class per test row. train (N, F), train_labels (N,) int64, test (M, F) -> (M,)."""
    bank = F.normalize(train.float(), dim=1)  # (N, F)
    k = min(k, bank.shape[0])
    predictions = []
    for start in range(0, test.shape[0], chunk):
        queries = F.normalize(test[start : start + chunk].float(), dim=1)  # (m, F)
        similarity, neighbours = (queries @ bank.T).topk(k, dim=1)  # (m, k)
        weights = (similarity / temperature).exp()  # (m, k)
        votes = torch.zeros(queries.shape[0], num_classes)
        votes.scatter_add_(1, train_labels[neighbours], weights)  # (m, C)
        predictions.append(votes.argmax(dim=1))
    return torch.cat(predictions)
