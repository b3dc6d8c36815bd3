"""Offline metrics of a Next-Best-Action model: the next actions users took, by time.

The newest 10% of Taken events (by time) are held out; a scorer trained on what came before
ranks, for each of them, the actions allowed at that moment (expired and not-yet-repeatable
actions left out, as the runtime does), given the user's state just before it. The truth is the
set of actions the user took within the optimization period from then on. The keys are
GetSolutionMetrics' own (``compute_metrics``), coverage over the actions catalogue.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..data.action_training import KIND_CODES, ActionTrainingData
from ..data.actions import ActionCatalogue, rank_actions
from .metrics import compute_metrics

# (data, train before this time) -> a function from a user state's features to one score per action
Scorer = Callable[[np.ndarray], np.ndarray]
Fit = Callable[[ActionTrainingData, float], Scorer]
HOLDOUT = 0.1
DEPTH = 25


def holdout_time(data: ActionTrainingData, fraction: float = HOLDOUT) -> float:
    """The time from which the newest ``fraction`` of Taken events lie (inf when there are none)."""
    taken = data.action_ts[data.action_kind == KIND_CODES["TAKEN"]]
    return float(np.quantile(taken, 1.0 - fraction)) if taken.size else float("inf")


def evaluate_actions(data: ActionTrainingData, catalogue: ActionCatalogue, period_seconds: float, fit: Fit) -> dict:
    """Metrics of ``fit``'s scorer on the held-out Taken events (zeros without any)."""
    cutoff = holdout_time(data)
    score = fit(data, cutoff)
    recommendations, truths = [], []
    for example in data.examples(period_seconds, since=cutoff):
        allowed = catalogue.allowed(example.time, example.taken_before)
        best = rank_actions(score(example.features), catalogue.values, allowed, DEPTH)
        recommendations.append(best)
        truths.append(set(example.targets.tolist()))
    return compute_metrics(recommendations, truths, len(catalogue))


def most_popular(data: ActionTrainingData, until: float) -> Scorer:
    """The baseline that does the same job without personalization: actions by how often they were taken."""
    counts = data.taken_counts(until)
    scores = counts / (counts.max() or 1.0)
    return lambda _features: scores
