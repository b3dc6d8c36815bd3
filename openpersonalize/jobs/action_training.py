"""Training an aws-next-best-action solution version: the job body run in a child process.

``train_actions_from_snapshots`` reads the actions (the ACTIONS dataset as it is now, written by
the control plane), the action interactions and item interactions (snapshots plus live events),
measures the model on the newest Taken events (``evaluation/actions.py``), then fits it on all
data and writes the artifact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..data.action_training import ActionTrainingData
from ..data.actions import DAY_SECONDS, ActionCatalogue
from ..data.csv_import import read_snapshot
from ..data.tables import append_rows
from ..evaluation.actions import evaluate_actions
from ..recipes.base import param
from ..recipes.next_best_action import NextBestActionRecipe


def _table(snapshot: str | None, live: str | None) -> pa.Table | None:
    """A dataset's snapshot with its live rows appended (either may be missing)."""
    table = read_snapshot(Path(snapshot)) if snapshot else None
    if live:
        extra = pq.read_table(live)
        table = extra if table is None else append_rows(table, extra)
    return table


def train_actions_from_snapshots(
    actions: str,
    action_interactions: str | None,
    live_action_events: str | None,
    interactions: str | None,
    live_events: str | None,
    params: dict[str, str],
    out_dir: str,
    progress: Callable[[float], None],
) -> dict[str, Any]:
    """Train and save a Next-Best-Action model; returns metrics and the parameters it trained with."""
    t0 = time.perf_counter()
    recipe = NextBestActionRecipe()
    merged = recipe.hyperparameters(params)
    actions_table = pq.read_table(actions)
    data = ActionTrainingData.from_tables(
        actions_table,
        _table(action_interactions, live_action_events),
        _table(interactions, live_events),
        param(merged, "max_item_features", int),
    )
    progress(0.2)
    period = param(merged, "action_optimization_period") * DAY_SECONDS
    metrics = evaluate_actions(
        data,
        ActionCatalogue.of(data.trained_rows(actions_table)),
        period,
        lambda train, until: recipe.fit_actions(train, merged, until).propensities,
    )
    progress(0.6)
    model = recipe.fit_actions(data, merged)
    model.meta.update(metrics=metrics, training_mode="FULL")
    model.save(Path(out_dir))
    progress(1.0)
    return {"metrics": metrics, "tuned_params": merged, "training_seconds": time.perf_counter() - t0}
