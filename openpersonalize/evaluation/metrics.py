"""Offline metrics exactly as GetSolutionMetrics reports them (Personalize Developer Guide,
"Evaluating a solution version with metrics"; formulas in README.md, "Offline metrics").

For one test user with ranked recommendations r_1, r_2, ... and truth set T (binary relevance):

- precision@K = |{i <= K : r_i in T}| / K
- reciprocal rank = 1 / (rank of the first r_i in T within the top 25), 0 when none
- DCG@K = sum over i <= K with r_i in T of 1 / log(1 + i)
- NDCG@K = DCG@K / IDCG@K, where IDCG@K is the DCG of *the same top K sorted by relevance*
  (its h hits moved to ranks 1..h): sum over j <= h of 1 / log(1 + j); 0 when h = 0.
  The Guide's worked example (hits at ranks 2 and 5, K = 5) divides by 1/log 2 + 1/log 3 = 0.6241.
  Because the ideal counts only the hits the list holds, not the whole truth, NDCG@K grows with K
  as later hits are reached, while precision@K falls.

Each is averaged over test users. coverage = distinct items recommended to any test user /
distinct items in the Interactions and Items datasets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

METRIC_KEYS = (
    "coverage",
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
)


def reciprocal_rank(recommended: Sequence, truth: set, k: int = 25) -> float:
    """1 / rank of the first relevant item in the top ``k`` (0 when none)."""
    for rank, item in enumerate(recommended[:k], start=1):
        if item in truth:
            return 1.0 / rank
    return 0.0


def ndcg(recommended: Sequence, truth: set, k: int) -> float:
    """NDCG@k: DCG of the top ``k`` over the DCG of that top ``k`` sorted by relevance (0 without a hit)."""
    ranks = np.array([r for r, item in enumerate(recommended[:k], start=1) if item in truth], np.float64)
    if not len(ranks):
        return 0.0
    dcg = float(np.sum(1.0 / np.log2(ranks + 1)))
    ideal = float(np.sum(1.0 / np.log2(np.arange(1, len(ranks) + 1) + 1)))
    return dcg / ideal


def precision(recommended: Sequence, truth: set, k: int) -> float:
    """Relevant items in the top ``k`` divided by ``k``."""
    return sum(1 for item in recommended[:k] if item in truth) / k


def compute_metrics(
    recommendations: Iterable[Sequence], truths: Iterable[set], n_catalogue_items: int
) -> dict[str, float]:
    """Average the per-user metrics (the exact GetSolutionMetrics keys)."""
    totals = dict.fromkeys(METRIC_KEYS, 0.0)
    seen: set = set()
    n = 0
    for recs, truth in zip(recommendations, truths, strict=True):
        recs = list(recs)
        truth = set(truth)
        seen.update(recs[:25])
        n += 1
        totals["mean_reciprocal_rank_at_25"] += reciprocal_rank(recs, truth, 25)
        for k in (5, 10, 25):
            totals[f"normalized_discounted_cumulative_gain_at_{k}"] += ndcg(recs, truth, k)
            totals[f"precision_at_{k}"] += precision(recs, truth, k)
    out = {key: (value / n if n else 0.0) for key, value in totals.items()}
    out["coverage"] = len(seen) / n_catalogue_items if n_catalogue_items else 0.0
    return out
