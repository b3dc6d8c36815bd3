"""Scores leaning towards what a solution or campaign asks for besides relevance.

A solution's ``optimizationObjective`` is learnt at training time as one value per item
(``recipes/objective.py``); a campaign's ``rankingInfluence`` adds the items' popularity and freshness
percentiles, each times its weight. The lean is added to a request's scores in units of their spread,
so a weight of 1 can lift the least relevant item to the level of the most relevant one while relevance
still orders the rest.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..recipes.objective import percentiles


def item_lean(
    objective: np.ndarray | None, popularity: np.ndarray, created: np.ndarray, influence: Mapping[str, float]
) -> np.ndarray | None:
    """The per-item lean of a model's objective and a campaign's rankingInfluence (None: no lean)."""
    lean = np.zeros(len(popularity), np.float32)
    if objective is not None:
        lean += np.asarray(objective, np.float32)
    if influence.get("POPULARITY"):
        lean += float(influence["POPULARITY"]) * percentiles(popularity)
    if influence.get("FRESHNESS"):
        lean += float(influence["FRESHNESS"]) * percentiles(created)
    return lean if lean.any() else None


def leaned(scores: np.ndarray, lean: np.ndarray) -> np.ndarray:
    """``scores`` plus ``lean`` times the spread of the finite scores (unscored items stay unscored)."""
    scores = np.asarray(scores, np.float64)
    finite = np.isfinite(scores)
    if not finite.any():
        return scores
    spread = float(scores[finite].max() - scores[finite].min()) or 1.0
    return np.where(finite, scores + lean * spread, scores)
