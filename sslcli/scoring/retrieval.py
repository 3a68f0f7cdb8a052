"""Cross-modal retrieval: how often the nearest item of the other modality is the query's own pair.

For N pairs (a clip and its soundtrack), each query a_i ranks every b_j by cosine similarity; its rank
is 1 + the number of b_j more similar than its own b_i (ties counted against it). Recall@k is the
share of queries ranked within k (chance: k / N), as cross-modal retrieval is reported in AVID
(Morgado et al., CVPR 2021) and CLIP (Radford et al., ICML 2021).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def own_pair_ranks(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """(N,) rank (1 = first) of each query's own key among all N keys; queries, keys (N, D)."""
    similarity = F.normalize(queries.float(), dim=1) @ F.normalize(keys.float(), dim=1).T  # (N, N)
    own = similarity.diagonal()[:, None]  # (N, 1)
    others = ~torch.eye(len(queries), dtype=torch.bool, device=similarity.device)
    return 1 + ((similarity >= own) & others).sum(dim=1)


def retrieval_scores(queries: torch.Tensor, keys: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict:
    """Recall@k for each k, the median rank and chance's recall@k, for paired (N, D) rows."""
    ranks = own_pair_ranks(queries, keys).float()
    n = len(ranks)
    scores = {f"recall@{k}": float((ranks <= k).float().mean()) for k in ks}
    scores |= {f"chance@{k}": min(k, n) / n for k in ks}
    return scores | {"median_rank": float(ranks.median()), "pairs": n}
