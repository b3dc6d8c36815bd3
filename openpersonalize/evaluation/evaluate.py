"""Score a model on an ``EvalSplit`` with the GetSolutionMetrics protocol."""

from __future__ import annotations

from typing import Any

import numpy as np

from openpersonalize.data.training import UserHistory
from openpersonalize.evaluation.metrics import compute_metrics
from openpersonalize.evaluation.split import EvalSplit


def top_k(scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``k`` best scores, best first, skipping ``exclude``."""
    s = np.asarray(scores, np.float64).copy()
    if exclude is not None and len(exclude):
        s[exclude] = -np.inf
    k = min(k, len(s))
    part = np.argpartition(-s, k - 1)[:k]
    part = part[np.argsort(-s[part], kind="stable")]
    return part[np.isfinite(s[part])]


def evaluate_model(model: Any, split: EvalSplit, n_catalogue_items: int | None = None, k: int = 25) -> dict[str, float]:
    """Recommend top-``k`` for each test user from their input history (seen items excluded)."""
    index = model.item_index
    ids = model.item_ids
    recs: list[list[str]] = []
    for items, ts in split.inputs:
        idx = np.array([index.get(str(i), -1) for i in items.tolist()], np.int64)
        ok = idx >= 0
        history = UserHistory(idx[ok], np.asarray(ts)[ok])
        scores = model.score_user(history, None)
        best = top_k(scores, k, exclude=history.items)
        recs.append([str(ids[i]) for i in best])
    return compute_metrics(recs, split.truths, n_catalogue_items or model.n_items)
