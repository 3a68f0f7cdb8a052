"""DeepCluster: Caron, Bojanowski, Joulin, Douze, "Deep Clustering for Unsupervised Learning of Visual
Features", ECCV 2018.

At the start of every epoch the current backbone embeds every training item (no augmentation); the
features are PCA-reduced (at most 256 dimensions), whitened and L2-normalised, and k-means on the
training device assigns each item a pseudo-label. Empty clusters are re-seeded during k-means by
splitting a random non-empty cluster (its centroid nudged by +-1/1024). The classifier on top is
re-initialised each epoch and trained with cross-entropy on the pseudo-labels; the epoch's items are
drawn uniformly over the non-empty clusters (``sampling_weights``). The paper's Sobel input filter
is left out so that the method stays domain-agnostic. Pseudo-labels are a buffer, so resuming
mid-epoch replays the epoch exactly.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn as nn
import torch.nn.functional as F
from pydantic import Field

from sslcli.methods.base import Method, Sample, StepContext, StepOutput, view_tensors
from sslcli.methods.options import Count
from sslcli.registry import METHODS

SPLIT_EPS = 1 / 1024


def pca_whiten(features: torch.Tensor, dim: int, eps: float = 1e-5) -> torch.Tensor:
    """(N, F) -> centred, PCA-projected to min(dim, F, N) whitened components, L2-normalised (N, d)."""
    centred = features - features.mean(dim=0)
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)  # (d,), (d, F)
    d = min(dim, vh.shape[0])
    scale = singular[:d] / max(len(features) - 1, 1) ** 0.5 + eps  # per-component std
    return F.normalize(centred @ vh[:d].T / scale, dim=1)  # (N, d)


def assign(points: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid (squared Euclidean) for each point: (N, D), (K, D) -> (N,)."""
    distances = centroids.pow(2).sum(1)[None] - 2 * points @ centroids.T  # (N, K) up to ||x||^2
    return distances.argmin(dim=1)


def split_empty(centroids: torch.Tensor, counts: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Give each empty cluster a perturbed copy of a random cluster holding >= 2 points (which moves
    the other way), so that the next assignment splits that cluster. (K, D), (K,) -> (K, D)."""
    centroids, counts = centroids.clone(), counts.clone()
    for empty in torch.nonzero(counts == 0).flatten().tolist():
        donors = torch.nonzero(counts >= 2).flatten()
        if len(donors) == 0:
            break
        donor = int(donors[torch.randint(len(donors), (), generator=generator)])
        centroids[empty] = centroids[donor] * (1 + SPLIT_EPS)
        centroids[donor] = centroids[donor] * (1 - SPLIT_EPS)
        counts[empty] = counts[donor] // 2
        counts[donor] -= counts[empty]
    return centroids


def kmeans(
    points: torch.Tensor,
    k: int,
    iterations: int,
    generator: torch.Generator,
    init: torch.Tensor | None = None,
) -> torch.Tensor:
    """Lloyd's k-means with empty-cluster splitting; returns labels (N,). ``init``: (K, D) centroids."""
    if init is None:
        picks = torch.randperm(len(points), generator=generator)[:k].to(points.device)
        init = points[picks]
    centroids = init.clone()  # (K, D)
    for _ in range(iterations):
        labels = assign(points, centroids)  # (N,)
        counts = torch.bincount(labels, minlength=k)  # (K,)
        sums = torch.zeros_like(centroids).index_add_(0, labels, points)  # (K, D)
        centroids = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], centroids)
        centroids = split_empty(centroids, counts, generator)
    return assign(points, centroids)


def uniform_cluster_weights(labels: torch.Tensor) -> torch.Tensor:
    """Per-item weights (N,) giving every non-empty cluster the same total: 1 / (clusters * size)."""
    counts = torch.bincount(labels).double()  # (K,)
    return 1.0 / (counts[labels] * (counts > 0).sum())


@METHODS.register
class DeepCluster(Method):
    name = "deepcluster"
    description = "clustering: k-means pseudo-labels each epoch, classification, uniform cluster sampling"
    paper = "Caron et al., ECCV 2018"
    family = "one_view"
    accepts = ("image2d",)

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        num_clusters: Annotated[int, Field(ge=2)] = 100,
        pca_dim: Count = 256,
        kmeans_iterations: Count = 20,
    ):
        super().__init__(backbone, feature_dim)
        self.num_clusters, self.pca_dim, self.iterations = num_clusters, pca_dim, kmeans_iterations
        self.classifier = nn.Linear(feature_dim, num_clusters)
        self.register_buffer("pseudo_labels", torch.zeros(0, dtype=torch.long))  # (N,) once clustered

    def on_epoch_start(self, ctx: StepContext) -> None:
        points = pca_whiten(ctx.features().to(self.pseudo_labels.device), self.pca_dim)  # (N, d)
        generator = torch.Generator().manual_seed(int(torch.randint(2**62, ())))  # from the run's seed
        k = min(self.num_clusters, len(points))
        self.pseudo_labels = kmeans(points, k, self.iterations, generator)
        self.classifier.reset_parameters()

    def sampling_weights(self) -> torch.Tensor | None:
        return uniform_cluster_weights(self.pseudo_labels) if len(self.pseudo_labels) else None

    def forward(self, views: list[Sample], ctx: StepContext) -> StepOutput:
        if not len(self.pseudo_labels):
            raise RuntimeError("deepcluster: no pseudo-labels yet (on_epoch_start was not called)")
        logits = self.classifier(self.backbone(view_tensors(views)[0]))  # (B, K)
        return StepOutput(F.cross_entropy(logits, self.pseudo_labels[ctx.indices]))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Pseudo-labels have one entry per item: take the saved length before loading."""
        saved = state_dict.get(prefix + "pseudo_labels")
        if saved is not None:
            self.pseudo_labels = torch.empty_like(saved, device=self.pseudo_labels.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
