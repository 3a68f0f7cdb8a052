"""Cross-modal retrieval scores against hand-counted ranks and closed forms."""

from __future__ import annotations

import pytest
import torch

from sslcli.scoring.retrieval import own_pair_ranks, retrieval_scores


def test_ranks_count_the_keys_more_similar_than_the_own_one():
    queries = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    keys = torch.tensor([[1.0, 0.1], [1.0, 0.0], [0.0, 1.0]])
    # query 0 (1, 0): its key (1, .1) is beaten by key 1 (1, 0) -> rank 2
    # query 1 (0, 1): its key (1, 0) is beaten by both others -> rank 3
    # query 2 (1, 1): its key (0, 1) ties key 1 (1, 0) and is beaten by key 0 -> rank 3 (ties count against)
    assert own_pair_ranks(queries, keys).tolist() == [2, 3, 3]


def test_perfect_pairs_rank_first_and_reversed_order_gives_the_chance_of_a_shuffle():
    torch.manual_seed(0)
    codes = torch.nn.functional.normalize(torch.randn(10, 32), dim=1)
    scores = retrieval_scores(codes, codes, ks=(1, 5))
    assert scores["recall@1"] == 1.0 and scores["median_rank"] == 1.0 and scores["pairs"] == 10
    assert scores["chance@1"] == pytest.approx(0.1) and scores["chance@5"] == pytest.approx(0.5)


def test_random_pairs_score_near_chance_on_average():
    torch.manual_seed(1)
    recalls = [
        retrieval_scores(torch.randn(20, 16), torch.randn(20, 16), ks=(5,))["recall@5"] for _ in range(300)
    ]
    assert sum(recalls) / len(recalls) == pytest.approx(5 / 20, abs=0.02)
