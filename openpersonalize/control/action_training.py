"""What a solution version of aws-next-best-action needs from the dataset group, handed to its training job.

It trains on the ACTIONS dataset (required: the actions to recommend), the ACTION_INTERACTIONS
dataset (its imports and PutActionInteractions; without any, every score is 0 as in Personalize)
and, when the group has them, item interactions. The actions go to the job as they are now —
the snapshot with PutActions records upserted — written next to the live events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ..data.csv_import import read_snapshot
from ..data.tables import upsert_rows
from ..errors import InvalidInputException
from ..jobs.training import ACTIONS, LIVE_ACTION_EVENTS
from ..recipes.registry import NEXT_BEST_ACTION_ARN, PERSONALIZED_ACTIONS, get_recipe
from ..store.metadata import Resource
from . import datasets
from .base import Control


def is_action_recipe(recipe_arn: str) -> bool:
    """Whether the recipe recommends actions (PERSONALIZED_ACTIONS)."""
    info = get_recipe(recipe_arn)
    return info is not None and info.recipe_type == PERSONALIZED_ACTIONS


# What a solution of aws-next-best-action may set: the rest trains item recipes only (and is refused here).
# action_optimization_period is a featurization hyperparameter in Personalize; algorithmHyperParameters take it too.
ACTION_SOLUTION_CONFIG = frozenset(
    {"algorithmHyperParameters", "featureTransformationParameters", "autoTrainingConfig"}
)


def _bounds() -> dict[str, tuple[float, float, bool]]:
    """name -> (lowest, highest, whether whole) of each aws-next-best-action hyperparameter (the registry's ranges)."""
    ranges = get_recipe(NEXT_BEST_ACTION_ARN).hpo_ranges
    whole = {r["name"]: (r["minValue"], r["maxValue"], True) for r in ranges["integerHyperParameterRanges"]}
    return whole | {r["name"]: (r["minValue"], r["maxValue"], False) for r in ranges["continuousHyperParameterRanges"]}


def check_action_solution(params: dict[str, Any]) -> None:
    """CreateSolution's check for aws-next-best-action: no HPO, no eventType, no item-training configuration,
    and every hyperparameter a number within its range (training would fail on it, or fit nonsense)."""
    if params.get("performHPO"):
        raise InvalidInputException("performHPO is not available for aws-next-best-action; set its hyperparameters.")
    if params.get("eventType"):
        raise InvalidInputException("eventType: aws-next-best-action trains on action interactions of every type.")
    config = params.get("solutionConfig") or {}
    check_action_config(config, "solutionConfig")
    bounds = _bounds()
    for member in ("algorithmHyperParameters", "featureTransformationParameters"):
        for name, value in (config.get(member) or {}).items():
            if name in bounds and not _within(value, *bounds[name]):
                low, high, whole = bounds[name]
                kind = "an integer" if whole else "a number"
                raise InvalidInputException(
                    f"solutionConfig.{member}.{name} must be {kind} from {low:g} to {high:g}, got {value!r}."
                )


def check_action_config(config: dict[str, Any], member: str) -> None:
    """InvalidInputException naming the first member of ``config`` (``member``: solutionConfig or
    solutionUpdateConfig) that aws-next-best-action does not train with."""
    unused = sorted(set(config) - ACTION_SOLUTION_CONFIG)
    if unused:
        raise InvalidInputException(
            f"{member}.{unused[0]} is not available for aws-next-best-action (it takes "
            f"{', '.join(sorted(ACTION_SOLUTION_CONFIG))})."
        )


def _within(value: str, low: float, high: float, whole: bool) -> bool:
    try:
        number = float(value)
    except ValueError:
        return False
    return low <= number <= high and (number.is_integer() or not whole)


def check_action_data(control: Control, group_arn: str, by_type: dict[str, Resource]) -> None:
    """CreateSolutionVersion's check: the group has an ACTIONS dataset with actions and an ACTION_INTERACTIONS one."""
    actions = by_type.get("ACTIONS")
    if actions is None or not (actions.doc.get("_snapshot") or control.events.records(actions.arn)):
        raise InvalidInputException(
            f"Dataset group {group_arn} has no actions to train aws-next-best-action on: create an ACTIONS "
            "dataset and import actions (or add them with PutActions)."
        )
    if "ACTION_INTERACTIONS" not in by_type:
        raise InvalidInputException(f"Dataset group {group_arn} has no ACTION_INTERACTIONS dataset.")


def training_inputs(control: Control, group_arn: str, snapshots: dict[str, str | None], inputs: Path) -> None:
    """Write the action datasets' part of the training job's inputs into ``inputs``: the actions now, the live
    action interactions (``snapshots``: the group's snapshot keys by dataset type)."""
    by_type = {d.doc["datasetType"]: d for d in control.store.children(group_arn, (datasets.DATASET.kind,))}
    actions = by_type.get("ACTIONS")
    records = (
        [{"ACTION_ID": r["id"], **r["properties"]} for r in control.events.records(actions.arn)] if actions else []
    )
    table = upsert_rows(read_snapshot(control.objects.local_path(snapshots.get("ACTIONS"))), records, "ACTION_ID")
    if table is None:
        raise InvalidInputException(f"Dataset group {group_arn} has no actions to train on.")
    pq.write_table(table, inputs / ACTIONS)
    live = control.events.actions.table(group_arn)
    if live.num_rows:
        pq.write_table(live, inputs / LIVE_ACTION_EVENTS)
