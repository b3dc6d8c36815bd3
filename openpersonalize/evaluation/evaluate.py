"""Score a model on an ``EvalSplit`` with the GetSolutionMetrics protocol.

Recommendations are the model's own top-``k`` for the input history (event types
included, as at runtime); already-seen items are removed only under the strict protocol
(``split.exclude_seen``), never under Personalize's documented one (see ``split.py``).
Every recipe type but USER_SEGMENTATION is evaluated this way, ranking recipes included: the
model's own ``score_user`` ranks the whole catalogue for each test user.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from openpersonalize.data.training_data import UserHistory
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


def catalogue_size(model: Any, split: EvalSplit) -> int:
    """Distinct items in the Interactions and Items datasets (coverage's denominator).

    The model indexes the training interactions and the Items dataset; the test users'
    interactions may add items no training user touched.
    """
    index = model.item_index
    extra = {str(i) for items, _ in split.inputs for i in items.tolist()}
    extra.update(str(i) for truth in split.truths for i in truth)
    return model.n_items + sum(1 for i in extra if i not in index)


def evaluate_model(
    model: Any,
    split: EvalSplit,
    n_catalogue_items: int | None = None,
    k: int = 25,
    exclude_seen: bool | None = None,
) -> dict[str, float]:
    """Recommend top-``k`` for each test user from their input history.

    ``exclude_seen`` overrides the split's protocol (None: follow ``split.exclude_seen``);
    ``n_catalogue_items`` overrides coverage's denominator (None: ``catalogue_size``).
    """
    exclude = split.exclude_seen if exclude_seen is None else exclude_seen
    index = model.item_index
    ids = model.item_ids
    recs: list[list[str]] = []
    for u, (items, ts) in enumerate(split.inputs):
        idx = np.array([index.get(str(i), -1) for i in items.tolist()], np.int64)
        ok = idx >= 0
        events = split.input_events[u][ok].tolist() if u < len(split.input_events) else None
        history = UserHistory(idx[ok], np.asarray(ts)[ok], events)
        scores = model.score_user(history, None)
        best = top_k(scores, k, exclude=history.items if exclude else None)
        recs.append([str(ids[i]) for i in best])
    return compute_metrics(recs, split.truths, n_catalogue_items or catalogue_size(model, split))
