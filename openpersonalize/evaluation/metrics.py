"""Offline metrics exactly as GetSolutionMetrics reports them (DESIGN.md).

Binary relevance, log2 discount, ideal DCG over min(|truth|, K) items; MRR@25 is the
reciprocal rank of the first relevant item within the top 25 (0 when none);
coverage = distinct recommended items / items in the Interactions and Items datasets.
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
    """Normalised DCG@k with binary gains and log2(rank + 1) discount."""
    if not truth:
        return 0.0
    dcg = sum(1.0 / np.log2(r + 1) for r, item in enumerate(recommended[:k], start=1) if item in truth)
    ideal = sum(1.0 / np.log2(r + 1) for r in range(1, min(len(truth), k) + 1))
    return float(dcg / ideal)


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
