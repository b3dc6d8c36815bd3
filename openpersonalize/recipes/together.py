"""aws-sims as the ECOMMERCE item shelves train it: items bought (or viewed) together in one visit.

A shopper's *visit* is a run of their events with no gap longer than ``visit_gap_seconds``. Items
that share visits are what "frequently bought together" and "customers who viewed X also viewed"
mean, more than items that merely share a customer over the years: a pair's score is its
co-interaction score across users plus ``visit_weight`` times its co-interaction count across
visits. Everything else (user filter, neighbours, related-items scoring, the user scorer) is aws-sims'.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from openpersonalize.data.training_data import TrainingData
from openpersonalize.recipes.base import param
from openpersonalize.recipes.sims import SimsRecipe, cointeraction_neighbours


def visit_matrix(data: TrainingData, gap_seconds: float) -> sp.csr_matrix:
    """Visits x items (1 where the visit has the item): a user's events split where a gap exceeds ``gap_seconds``."""
    users, stamps = data.hist_users, data.hist_ts.astype(np.int64)
    order = np.lexsort((stamps, users))
    users, stamps, items = users[order], stamps[order], data.hist_items[order]
    starts = np.r_[True, (users[1:] != users[:-1]) | (np.diff(stamps) > gap_seconds)]
    visit = np.cumsum(starts) - 1
    n_visits = int(visit[-1]) + 1 if len(visit) else 0
    X = sp.csr_matrix((np.ones(len(items), np.float32), (visit, items)), shape=(n_visits, data.n_items))
    X.sum_duplicates()
    X.data[:] = 1.0
    return X


class TogetherRecipe(SimsRecipe):
    """aws-sims whose neighbours also count co-interactions within one visit (ECOMMERCE item shelves)."""

    def _neighbours(self, data: TrainingData, params: dict[str, Any]) -> sp.csr_matrix:
        by_user = super()._neighbours(data, params)
        by_visit = cointeraction_neighbours(
            visit_matrix(data, param(params, "visit_gap_seconds")),
            discount=param(params, "popularity_discount_factor"),
            min_count=1,
            k=param(params, "neighbours", int),
        )
        return (by_user + param(params, "visit_weight") * by_visit).tocsr()
