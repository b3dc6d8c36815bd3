"""Hyperparameter optimisation: seeded random search on a validation split of training users.

Ranges come from the solution's ``hpoConfig.algorithmHyperParameterRanges`` (botocore
shape) or, when absent, the recipe's tunable default ranges. Continuous ranges spanning
two or more decades are sampled log-uniformly. The objective metric is maximised.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from openpersonalize.data.training_data import TrainingData
from openpersonalize.evaluation.evaluate import evaluate_model
from openpersonalize.evaluation.metrics import METRIC_KEYS
from openpersonalize.evaluation.split import split_interactions

DEFAULT_OBJECTIVE = "normalized_discounted_cumulative_gain_at_25"


def _tunable(ranges: dict[str, list[dict[str, Any]]], only_tunable: bool) -> dict[str, list[dict[str, Any]]]:
    return {
        kind: [r for r in ranges.get(kind, []) if not only_tunable or r.get("isTunable", True)]
        for kind in (
            "integerHyperParameterRanges",
            "continuousHyperParameterRanges",
            "categoricalHyperParameterRanges",
        )
    }


def sample_params(ranges: dict[str, list[dict[str, Any]]], rng: np.random.Generator) -> dict[str, str]:
    """Draw one value per range (as Personalize-style strings)."""
    out: dict[str, str] = {}
    for r in ranges.get("integerHyperParameterRanges", []):
        out[r["name"]] = str(int(rng.integers(int(r["minValue"]), int(r["maxValue"]) + 1)))
    for r in ranges.get("continuousHyperParameterRanges", []):
        lo, hi = float(r["minValue"]), float(r["maxValue"])
        if lo > 0 and hi / lo >= 100:
            value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        else:
            value = rng.uniform(lo, hi)
        out[r["name"]] = f"{value:.6g}"
    for r in ranges.get("categoricalHyperParameterRanges", []):
        out[r["name"]] = str(rng.choice(list(r["values"])))
    return out


def tune(
    recipe: Any,
    interactions: pa.Table,
    items: pa.Table | None,
    base_params: dict[str, str],
    default_ranges: dict[str, list[dict[str, Any]]],
    hpo_config: dict[str, Any] | None = None,
    event_type: str | None = None,
    seed: int = 0,
    max_trials: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[dict[str, str], list[tuple[dict[str, str], float]]]:
    """Random search; returns (best params merged over ``base_params``, [(trial params, score)]).

    ``interactions`` must be the *training* users only: a validation split is carved from them.
    The first trial is always ``base_params`` itself, so tuning never returns worse than defaults
    on the validation split.
    """
    hpo_config = hpo_config or {}
    metric = (hpo_config.get("hpoObjective") or {}).get("metricName") or DEFAULT_OBJECTIVE
    if metric not in METRIC_KEYS:
        raise ValueError(f"Unknown HPO objective metric {metric!r}; use one of {', '.join(METRIC_KEYS)}.")
    sign = -1.0 if str((hpo_config.get("hpoObjective") or {}).get("type", "Maximize")).lower() == "minimize" else 1.0
    given = hpo_config.get("algorithmHyperParameterRanges")
    ranges = _tunable(given, False) if given else _tunable(default_ranges, True)
    n_trials = max_trials or int((hpo_config.get("hpoResourceConfig") or {}).get("maxNumberOfTrainingJobs", 8))
    if event_type and "EVENT_TYPE" in interactions.column_names:
        import pyarrow.compute as pc

        interactions = interactions.filter(pc.equal(interactions["EVENT_TYPE"], event_type))
    split = split_interactions(interactions, seed=seed + 7919)
    data = TrainingData.from_tables(split.train, items)
    rng = np.random.default_rng(seed)
    trials: list[tuple[dict[str, str], float]] = []
    best_params, best_score = dict(base_params), -math.inf
    for t in range(max(1, n_trials)):
        if should_stop and should_stop():
            break
        candidate = dict(base_params) if t == 0 else {**base_params, **sample_params(ranges, rng)}
        model = recipe.fit(data, candidate)
        score = sign * evaluate_model(model, split)[metric]
        trials.append((candidate, score))
        if score > best_score:
            best_params, best_score = candidate, score
    return best_params, trials
