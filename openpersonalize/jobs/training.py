"""Training a solution version: the job body run in a child process, and the orchestration it runs.

``train_from_snapshots`` reads the dataset snapshots (plus live events) and calls
``train_solution_version``, which checks the data, optionally tunes hyperparameters (HPO),
computes the offline metrics with Personalize's protocol (train on 90% of users, evaluate on the
other 10%), then trains the final model on all data and writes the artifact. With ``previous_dir``
(trainingMode UPDATE) a model that ``updates_incrementally`` only re-indexes new items and
interactions, others refit with the previous parameters; metrics are carried over from the
previous version. The recipes themselves know nothing of splits, tuning or metrics.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..data.csv_import import read_snapshot
from ..data.tables import append_rows
from ..data.training_data import TrainingData
from ..data.training_selection import TrainingSelection
from ..evaluation.evaluate import evaluate_model
from ..evaluation.hpo import tune
from ..evaluation.metrics import METRIC_KEYS
from ..evaluation.split import split_interactions
from ..recipes.artifacts import has_artifact, load_model
from ..recipes.objective import OBJECTIVE_LEAN, objective_lean
from ..recipes.protocol import make_recipe
from ..recipes.registry import get_recipe
from ..store.objects import ObjectStore
from .action_training import train_actions_from_snapshots

MIN_INTERACTIONS = 1000
MIN_USERS = 25
# a training attempt's own inputs, in one stored directory (control writes them, the step reads them)
LIVE_EVENTS = "live-events.parquet"  # events received through PutEvents
ACTIONS = "actions.parquet"  # aws-next-best-action: the actions as they are now
LIVE_ACTION_EVENTS = "live-action-events.parquet"  # PutActionInteractions


class TrainingStoppedError(Exception):
    """Raised when ``should_stop`` asked training to stop (StopSolutionVersionCreation)."""


@dataclass
class TrainResult:
    """What a solution version records: GetSolutionMetrics values and the tuned parameters."""

    metrics: dict[str, float]
    tuned_params: dict[str, str]
    training_seconds: float
    trials: list[tuple[dict[str, str], float]] = field(default_factory=list)


def _check_data(interactions: pa.Table, selection: TrainingSelection) -> pa.Table:
    """The interactions ``selection`` keeps, or ValueError when too few remain to train on."""
    if interactions is None or interactions.num_rows == 0:
        raise ValueError("The Interactions dataset is empty; import interactions before training.")
    interactions = selection.interactions(interactions)
    event_type = selection.event_type
    n_rows = interactions.num_rows
    counts = pc.value_counts(pc.cast(interactions["USER_ID"], pa.string())).field("counts")
    n_users = int(pc.sum(pc.greater_equal(counts, 2)).as_py() or 0)
    if n_rows < MIN_INTERACTIONS or n_users < MIN_USERS:
        what = f" of event type {event_type!r}" if event_type else ""
        what += " selected by the solution's configuration" if selection != TrainingSelection(event_type) else ""
        raise ValueError(
            f"Not enough data to train: need at least {MIN_INTERACTIONS} interactions{what} and "
            f"{MIN_USERS} users with 2 or more interactions; found {n_rows} interactions and {n_users} users."
        )
    return interactions


def train_solution_version(
    recipe_arn: str,
    interactions: pa.Table,
    items: pa.Table | None,
    users: pa.Table | None,
    params: dict[str, str],
    event_type: str | None,
    perform_hpo: bool,
    hpo_config: dict | None,
    out_dir: Path,
    previous_dir: Path | None = None,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    selection: TrainingSelection | None = None,
    objective: dict[str, Any] | None = None,
) -> TrainResult:
    """Train (FULL, or UPDATE when ``previous_dir``) and save a model into ``out_dir``.

    ``selection`` (by default: the interactions of ``event_type``) picks the interactions, columns and
    users that train; ``objective`` (an optimizationObjective) is learnt into the model (``recipes/objective.py``).
    """
    t0 = time.perf_counter()
    info = get_recipe(recipe_arn)
    if info is None:
        raise ValueError(f"Unknown recipe {recipe_arn!r}.")
    if not info.implemented:
        raise ValueError(f"Recipe {info.name} is not supported by this server yet.")
    recipe = make_recipe(info)

    def report(fraction: float) -> None:
        if should_stop and should_stop():
            raise TrainingStoppedError("Training was stopped.")
        if progress:
            progress(min(max(fraction, 0.0), 1.0))

    report(0.0)
    selection = selection or TrainingSelection(event_type)
    filtered = _check_data(selection.columns("INTERACTIONS", interactions), selection)
    items, users = selection.columns("ITEMS", items), selection.columns("USERS", users)
    if objective:
        objective_lean(objective, items, np.zeros(0))  # a wrong itemAttribute fails before any training
    merged = {**info.default_hyperparameters, **{k: str(v) for k, v in (params or {}).items()}}
    out_dir = Path(out_dir)

    if previous_dir is not None and has_artifact(Path(previous_dir)):
        previous = load_model(Path(previous_dir), mmap=False)
        data = TrainingData.from_tables(filtered, items, users)
        report(0.3)
        if previous.updates_incrementally:
            model = previous.updated(data)
        else:  # cheap families simply refit with the previous parameters
            model = recipe.fit(data, previous.meta.get("params", merged))
        metrics = dict(previous.meta.get("metrics") or dict.fromkeys(METRIC_KEYS, 0.0))
        tuned = dict(previous.meta.get("params", merged))
        model.meta.update(metrics=metrics, training_mode="UPDATE")
        _lean(model, objective, items)
        model.save(out_dir)
        report(1.0)
        return TrainResult(metrics, tuned, time.perf_counter() - t0)

    split = split_interactions(filtered, seed=seed)
    trials: list[tuple[dict[str, str], float]] = []
    if perform_hpo:
        merged, trials = tune(
            recipe, split.train, items, merged, info.hpo_ranges, hpo_config, seed=seed, should_stop=should_stop
        )
    report(0.4)
    eval_data = TrainingData.from_tables(split.train, items, users)
    eval_model = recipe.fit(eval_data, merged, seed=seed)
    metrics = evaluate_model(eval_model, split, n_catalogue_items=None)
    del eval_model, eval_data, split  # the 90% copy and its index are not held through the final fit
    report(0.6)
    data = TrainingData.from_tables(filtered, items, users)
    model = recipe.fit(data, merged, seed=seed)
    model.meta.update(metrics=metrics, training_mode="FULL")
    _lean(model, objective, items)
    report(0.95)
    model.save(out_dir)
    report(1.0)
    return TrainResult(metrics, merged, time.perf_counter() - t0, trials)


def _lean(model: Any, objective: dict[str, Any] | None, items: pa.Table | None) -> None:
    if objective and objective.get("objectiveSensitivity") != "OFF":
        model.arrays[OBJECTIVE_LEAN] = objective_lean(objective, items, model.item_ids)
        model.meta["optimization_objective"] = dict(objective)


def train_from_snapshots(
    recipe_arn: str,
    objects: ObjectStore,
    version_arn: str,
    interactions: str | None,
    items: str | None,
    users: str | None,
    inputs: str,
    previous: str | None,
    params: dict[str, str],
    event_type: str | None,
    perform_hpo: bool,
    hpo_config: dict[str, Any] | None,
    progress: Callable[[float], None],
    action_interactions: str | None = None,
    solution_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train a solution version from dataset snapshots plus live events; returns metrics, tuned params and its
    model's key (``model``).

    Every input is an object-store key (the snapshots, ``inputs``: the attempt's live events and actions
    (``LIVE_EVENTS``, ``ACTIONS``, ``LIVE_ACTION_EVENTS``), ``previous``: the model an UPDATE starts from), read
    here through ``objects``, and the
    model is published into the store from here, so the step runs on whichever machine the executor picks.
    ``solution_config`` (the solution's solutionConfig) selects what trains (``TrainingSelection``).
    """
    given = objects.local_path(inputs)
    live_events = given / LIVE_EVENTS if pq.read_metadata(given / LIVE_EVENTS).num_rows else None

    def train(out_dir: Path) -> dict[str, Any]:
        if (given / ACTIONS).exists():  # aws-next-best-action: the action datasets train it
            live_actions = given / LIVE_ACTION_EVENTS
            return train_actions_from_snapshots(
                str(given / ACTIONS),
                _local(objects, action_interactions),
                str(live_actions) if live_actions.exists() else None,
                _local(objects, interactions),
                str(live_events) if live_events else None,
                {**params, **((solution_config or {}).get("featureTransformationParameters") or {})},  # its period
                str(out_dir),
                progress,
            )
        table = read_snapshot(objects.local_path(interactions))
        if live_events:
            table = append_rows(table, pq.read_table(live_events))
        result = train_solution_version(
            recipe_arn,
            table,
            read_snapshot(objects.local_path(items)) if items else None,
            read_snapshot(objects.local_path(users)) if users else None,
            params,
            event_type,
            perform_hpo,
            hpo_config,
            out_dir,
            previous_dir=objects.local_path(previous),
            progress=progress,
            selection=TrainingSelection.from_solution(event_type, solution_config or {}),
            objective=(solution_config or {}).get("optimizationObjective"),
        )
        return {
            "metrics": dict(result.metrics),
            "tuned_params": dict(result.tuned_params),
            "training_seconds": float(result.training_seconds),
        }

    try:
        return _published(objects, version_arn, train)
    finally:
        if objects.remote:  # this node's copy of the attempt's inputs (the store keeps them for a retry)
            shutil.rmtree(given, ignore_errors=True)


def _published(objects: ObjectStore, version_arn: str, train: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """``train(out_dir)``'s result with the key (``model``) of the model it wrote, published under a new attempt
    (a step that Ray retries elsewhere publishes a model of its own); the scratch directory never outlives it."""
    attempt = uuid.uuid4().hex[:8]
    work = objects.scratch_model_dir(version_arn, attempt)
    work.mkdir(parents=True)
    try:
        result = train(work / "model")
        return {**result, "model": objects.publish_model(work / "model", version_arn, attempt)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _local(objects: ObjectStore, key: str | None) -> str | None:
    """A local copy of a stored key, as a string path (None for none)."""
    path = objects.local_path(key)
    return str(path) if path else None
