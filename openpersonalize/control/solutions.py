"""Solutions, solution versions (training jobs) and their metrics.

(Describe/List/Delete of both kinds come from kinds.py; DescribeSolution adds the latest version.)
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InvalidInputException, ResourceInUseException
from ..jobs.isolated import JobError, JobStopped, Step, run_isolated
from ..jobs.leftovers import remove_leftovers
from ..jobs.runner import JobHandler, lease_lost
from ..jobs.training import LIVE_EVENTS, train_from_snapshots
from ..recipes.registry import RecipeInfo, get_recipe
from ..store.metadata import Connection, Resource
from ..store.objects import PARTIAL_MODELS, ObjectStoreError, failure_reason
from . import training_schedule
from .action_training import check_action_data, check_action_solution, is_action_recipe, training_inputs
from .base import (
    ACTIVE,
    CREATE_FAILED,
    CREATE_IN_PROGRESS,
    CREATE_PENDING,
    CREATE_STOPPED,
    CREATE_STOPPING,
    UNFINISHED,
    Call,
    Control,
    describe,
    insert_resource,
    refuse_if_in_use,
)
from .kinds import DATASET, DATASET_GROUP, RECOMMENDER_TRAINING, SOLUTION, SOLUTION_VERSION
from .recipe_catalogue import require_custom_recipe
from .solution_config import check_training_config
from .training_columns import checked_columns, group_datasets

log = logging.getLogger(__name__)

UPDATE_RECIPES = ("aws-user-personalization", "aws-hrnn-coldstart")  # the recipes trainingMode UPDATE is for

MANUAL, AUTOMATIC = "MANUAL", "AUTOMATIC"  # a version's trainingType
TRAINED_ON = "_dataMark"  # a version's data_mark when it was created
INTERACTION_DATASETS = ("INTERACTIONS", "ACTION_INTERACTIONS")

# Called once a solution version is ACTIVE: (solution ARN, version ARN). Wired by control/operations.py.
VersionTrained = Callable[[Control, str, str, Connection], None]


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _expected(recipe: RecipeInfo, name: str) -> tuple[str, Callable[[str], bool]]:
    """What a value of ``recipe``'s hyperparameter ``name`` must be (from its HPO range, else its default's
    form), and the test a value passes; training reads it so, or would fail on it or silently take a default."""
    ranges = recipe.hpo_ranges
    values = next((e["values"] for e in ranges["categoricalHyperParameterRanges"] if e["name"] == name), None)
    if values is not None:
        return f"one of {', '.join(values)}", lambda v: v.lower() in values
    if any(e["name"] == name for e in ranges["integerHyperParameterRanges"]):
        return "an integer", lambda v: _is_number(v) and float(v).is_integer()
    default = recipe.default_hyperparameters.get(name, "")
    if default in ("true", "false"):
        return "true or false", lambda v: v.lower() in ("true", "false")
    if any(e["name"] == name for e in ranges["continuousHyperParameterRanges"]) or _is_number(default):
        return "a number", _is_number
    return "", lambda _v: True


def _check_hyperparameters(recipe: RecipeInfo, config: dict[str, Any]) -> None:
    known = set(recipe.default_hyperparameters)
    for kind in recipe.hpo_ranges.values():
        known |= {r["name"] for r in kind}
    for name, value in (config.get("algorithmHyperParameters", {}) or {}).items():
        if name not in known:
            raise InvalidInputException(
                f"solutionConfig.algorithmHyperParameters: {name!r} is not a hyperparameter of {recipe.name} "
                f"(known: {', '.join(sorted(known))})."
            )
        expected, passes = _expected(recipe, name)
        if not passes(value):
            raise InvalidInputException(
                f"solutionConfig.algorithmHyperParameters.{name} must be {expected}, got {value!r}."
            )
        bounds = recipe.bounds(name)
        if bounds is not None and not bounds[0] <= float(value) <= bounds[1]:
            low, high, whole = bounds
            raise InvalidInputException(
                f"solutionConfig.algorithmHyperParameters.{name} must be {'an integer' if whole else 'a number'} "
                f"from {low:g} to {high:g}, got {value!r}."
            )
    ranges = (config.get("hpoConfig") or {}).get("algorithmHyperParameterRanges") or {}
    for kind in ranges.values():
        for entry in kind:
            if entry.get("name") not in known:
                raise InvalidInputException(
                    f"solutionConfig.hpoConfig.algorithmHyperParameterRanges: {entry.get('name')!r} is not a "
                    f"hyperparameter of {recipe.name}."
                )


def create_solution(call: Call) -> dict[str, Any]:
    p = call.params
    group = DATASET_GROUP.get(call, p["datasetGroupArn"])
    if not p.get("recipeArn"):
        raise InvalidInputException("recipeArn is required.")
    recipe = require_custom_recipe(p["recipeArn"])
    if not recipe.implemented:
        raise InvalidInputException(f"Recipe {recipe.arn} cannot be trained by this server yet.")
    config = p.get("solutionConfig") or {}
    if is_action_recipe(recipe.arn):
        if group.doc.get("domain"):
            raise InvalidInputException(
                f"recipeArn: {recipe.name} can't train in a domain dataset group ({group.doc['domain']}), which "
                "holds no next best action resources."
            )
        check_action_solution(p)  # first: it names the range of a bad value
    _check_hyperparameters(recipe, config)
    check_training_config(recipe, p.get("eventType"), config)
    data_config = config.get("trainingDataConfig")
    if data_config:
        present = group_datasets(call.control, group.arn)
        columns = checked_columns(call.control, data_config, present, "solutionConfig.trainingDataConfig")
        config = {**config, "trainingDataConfig": columns}
    auto = bool(p.get("performAutoTraining", True))
    if auto or config.get("autoTrainingConfig"):
        when = training_schedule.expression(config)
        training_schedule.interval_seconds(when, "solutionConfig.autoTrainingConfig.schedulingExpression")
        config = {**config, "autoTrainingConfig": {"schedulingExpression": when}}
    arn = SOLUTION.arn(call, p["name"])
    doc = {
        "name": p["name"],
        "solutionArn": arn,
        "performHPO": bool(p.get("performHPO", False)),
        "performAutoML": False,
        "performAutoTraining": auto,
        "performIncrementalUpdate": bool(p.get("performIncrementalUpdate", False)),
        "recipeArn": recipe.arn,
        "datasetGroupArn": group.arn,
        "eventType": p.get("eventType"),
        "solutionConfig": config,
        **(training_schedule.started(call.control.clock()) if auto else training_schedule.stopped()),
    }
    insert_resource(call, Resource(arn, SOLUTION.kind, p["name"], group.arn, ACTIVE, doc), SOLUTION.label)
    return {"solutionArn": arn}


def _latest_version(call: Call, solution: Resource) -> dict[str, Any] | None:
    versions = call.store.list(SOLUTION_VERSION.kind, parent=solution.arn, limit=1)
    if not versions:
        return None
    v = versions[0]
    return {
        "solutionVersionArn": v.arn,
        "status": v.status,
        "trainingMode": v.doc.get("trainingMode"),
        "trainingType": v.doc.get("trainingType"),
        "creationDateTime": v.created,
        "lastUpdatedDateTime": v.updated,
        "failureReason": v.doc.get("failureReason"),
    }


def describe_solution(call: Call) -> dict[str, Any]:
    res = SOLUTION.get(call, call.params["solutionArn"])
    return {"solution": {**describe(res), "latestSolutionVersion": _latest_version(call, res)}}


def remove_models(call: Call, _solution: Resource, gone: list[Resource]) -> None:
    """After DeleteSolution: the models of the versions deleted with it go too (their finished batch jobs have none)."""
    for version in gone:
        if version.kind == SOLUTION_VERSION.kind:
            call.control.objects.remove_model(version.arn)


def create_solution_version(call: Call) -> dict[str, Any]:
    p = call.params
    solution = SOLUTION.get(call, p["solutionArn"])
    mode = p.get("trainingMode", "FULL")  # AUTOTRAIN: refused by api/member_support
    arn = new_version(call, solution, mode, MANUAL, p.get("name"))
    _skip_first_automatic(call.control, solution.arn)
    return {"solutionVersionArn": arn}


def data_mark(control: Control, group_arn: str) -> list[Any]:
    """Where the group's interactions stand: the newest live event, and each interactions dataset's snapshot and
    live-record version. A version records it (``TRAINED_ON``): automatic training runs only once it moved."""
    mark: list[Any] = [control.events.max_event_id(group_arn)]
    for dataset in sorted(control.store.children(group_arn, (DATASET.kind,)), key=lambda d: d.arn):
        if dataset.doc["datasetType"] in INTERACTION_DATASETS:
            mark += [dataset.doc.get("_snapshotId"), control.events.live_version(dataset.arn)]
    return mark


def _check_update_recipe(recipe_arn: str) -> None:
    """trainingMode UPDATE is for User-Personalization (and the legacy HRNN-Coldstart) only, as Personalize documents
    it (CreateSolutionVersion.trainingMode); any other recipe retrains in FULL."""
    if get_recipe(recipe_arn).name not in UPDATE_RECIPES:
        raise InvalidInputException(
            f"trainingMode UPDATE is only available for solutions of the {' or '.join(UPDATE_RECIPES)} recipe; "
            f"{recipe_arn} trains with FULL only."
        )


def new_version(call: Call, solution: Resource, mode: str, training_type: str, name: str | None = None) -> str:
    """Queue the training of a new version of ``solution`` (``trainingMode`` ``mode``); its ARN.

    InvalidInputException when the dataset group has nothing to train on, ResourceInUseException while
    another version of the solution trains.
    """
    group_datasets = {
        d.doc["datasetType"]: d for d in call.store.children(solution.doc["datasetGroupArn"], (DATASET.kind,))
    }
    interactions = group_datasets.get("INTERACTIONS")
    if is_action_recipe(solution.doc["recipeArn"]):
        check_action_data(call.control, solution.doc["datasetGroupArn"], group_datasets)
    elif interactions is None or not interactions.doc.get("_snapshot"):
        raise InvalidInputException(
            f"Dataset group {solution.doc['datasetGroupArn']} has no imported INTERACTIONS data to train on."
        )
    previous = None
    if mode == "UPDATE":
        _check_update_recipe(solution.doc["recipeArn"])
        done = [v for v in call.store.list(SOLUTION_VERSION.kind, parent=solution.arn) if v.status == ACTIVE]
        if not done:
            raise InvalidInputException("trainingMode UPDATE needs an ACTIVE solution version to start from.")
        previous = done[0].arn
    arn = f"{solution.arn}/{uuid.uuid4().hex[:8]}"
    doc = {
        "name": name or solution.name,
        "solutionVersionArn": arn,
        "solutionArn": solution.arn,
        "performHPO": solution.doc["performHPO"],
        "performAutoML": False,
        "performIncrementalUpdate": solution.doc["performIncrementalUpdate"],
        "recipeArn": solution.doc["recipeArn"],
        "eventType": solution.doc.get("eventType"),
        "datasetGroupArn": solution.doc["datasetGroupArn"],
        "solutionConfig": solution.doc.get("solutionConfig") or {},
        "trainingMode": mode,
        "trainingType": training_type,
        "_previous": previous,
        TRAINED_ON: data_mark(call.control, solution.doc["datasetGroupArn"]),
    }
    insert_resource(
        call,
        Resource(arn, SOLUTION_VERSION.kind, doc["name"], solution.arn, CREATE_PENDING, doc),
        SOLUTION_VERSION.label,
        SOLUTION_VERSION.kind,
        guard=lambda versions: _refuse_if_training(solution, versions),
    )
    return arn


def _skip_first_automatic(control: Control, arn: str) -> None:
    """A version created by hand before the first automatic training was due skips that training."""
    while (solution := control.store.get(arn)) is not None:
        schedule = {key: solution.doc.get(key) for key in (training_schedule.NEXT, training_schedule.FIRST)}
        interval = training_schedule.interval_of(solution.doc.get("solutionConfig") or {})
        skipped = training_schedule.after_manual(schedule, control.clock(), interval)
        if skipped is None or control.store.update(arn, expect=schedule, **skipped) is not None:
            return


def _refuse_if_training(solution: Resource, versions: list[Resource]) -> None:
    """One training per solution at a time: ResourceInUseException while another version is unfinished."""
    refuse_if_in_use(solution, [v for v in versions if v.status in UNFINISHED], SOLUTION.label)


def stop_solution_version_creation(call: Call) -> dict[str, Any]:
    res = SOLUTION_VERSION.get(call, call.params["solutionVersionArn"])
    if call.store.update(res.arn, status=CREATE_STOPPING, only_if=(CREATE_PENDING, CREATE_IN_PROGRESS)) is None:
        raise ResourceInUseException(f"Solution version {res.arn} is {res.status}; only a running version can stop.")
    return {}


def get_solution_metrics(call: Call) -> dict[str, Any]:
    res = SOLUTION_VERSION.get(call, call.params["solutionVersionArn"])
    if res.status != ACTIVE:
        raise ResourceInUseException(f"Solution version {res.arn} is {res.status}; metrics exist once it is ACTIVE.")
    return {"solutionVersionArn": res.arn, "metrics": res.doc.get("_metrics", {})}


def run_training(control: Control, arn: str, trained: VersionTrained) -> None:
    """Train one solution version on the installed executor to ACTIVE, CREATE FAILED or CREATE STOPPED.

    The step trains into a scratch directory of its own and publishes the model under a new attempt
    key (``jobs/training.py``): a step of an earlier attempt that still runs can never write into
    what a rerun wrote. This attempt's inputs live under its own scratch prefix, removed at the end.
    """
    store = control.store
    version = store.get(arn)
    if version is None or version.status not in UNFINISHED:
        return
    if store.update(arn, status=CREATE_IN_PROGRESS, only_if=(CREATE_PENDING, CREATE_IN_PROGRESS)) is None:
        store.update(arn, status=CREATE_STOPPED, only_if=(CREATE_STOPPING,))
        return
    snapshots = {
        dataset.doc["datasetType"]: dataset.doc.get("_snapshot")
        for dataset in store.children(version.doc["datasetGroupArn"], (DATASET.kind,))
    }
    if not snapshots.get("INTERACTIONS") and not is_action_recipe(version.doc["recipeArn"]):
        store.update(arn, status=CREATE_FAILED, failureReason="The dataset group has no imported INTERACTIONS data.")
        return
    attempt = uuid.uuid4().hex[:8]
    inputs = control.objects.training_inputs_dir(arn, attempt)
    inputs.mkdir(parents=True)
    try:
        result = _train_attempt(control, version, snapshots, inputs)
        if result is None:
            return
    except ObjectStoreError as exc:
        reason = failure_reason(exc, arn, "read the training data or store the model")
        store.update(arn, status=CREATE_FAILED, only_if=(CREATE_IN_PROGRESS,), failureReason=reason)
        return
    finally:
        control.objects.remove_scratch(arn, attempt)
    finished = _finish(
        control,
        arn,
        version.doc["solutionArn"],
        trained,
        _metrics=result["metrics"],
        _model=result["model"],
        tunedHPOParams={"algorithmHyperParameters": result["tuned_params"]},
        trainingHours=result["training_seconds"] / 3600.0,
    )
    if not finished:  # stopped (or deleted) while the last step ran
        control.objects.remove_model(arn)
        store.update(arn, status=CREATE_STOPPED, only_if=(CREATE_STOPPING,))
        return


def _finish(control: Control, arn: str, solution_arn: str, trained: VersionTrained, **changes: Any) -> bool:
    """Write the trained version ACTIVE (with ``changes``) and queue the switch of the campaigns synced to its
    solution (``trained``) in one transaction: nobody reads the version ACTIVE while its campaigns show no switch
    to it. False when the version was stopped or deleted meanwhile."""
    store = control.store
    with store.transaction() as conn:
        if store.update(arn, ACTIVE, (CREATE_IN_PROGRESS,), within=conn, **changes) is None:
            return False
        trained(control, solution_arn, arn, conn)
    control.wake_jobs()
    return True


def _train_attempt(
    control: Control, version: Resource, snapshots: dict[str, str | None], inputs: Path
) -> dict[str, Any] | None:
    """Run the training step on the stored inputs; its result (with its model's key), or None once the version
    is settled. The attempt's own inputs are written into ``inputs`` and published with it, so that the step
    reads every input from the object store and runs on any machine."""
    store, arn = control.store, version.arn
    config = version.doc.get("solutionConfig") or {}
    group = version.doc["datasetGroupArn"]
    _write_live_events(control, group, inputs / LIVE_EVENTS)
    action_recipe = is_action_recipe(version.doc["recipeArn"])
    if action_recipe:
        training_inputs(control, group, snapshots, inputs)
    previous = store.get(version.doc["_previous"]) if version.doc.get("_previous") else None
    kwargs = {
        "recipe_arn": version.doc["recipeArn"],
        "objects": control.objects,
        "version_arn": arn,
        "interactions": snapshots.get("INTERACTIONS"),
        "items": snapshots.get("ITEMS"),
        "users": snapshots.get("USERS"),
        "inputs": control.objects.publish(inputs),
        "previous": previous.doc.get("_model") if previous is not None else None,
        "params": dict(config.get("algorithmHyperParameters") or {}),
        "event_type": version.doc.get("eventType"),
        "perform_hpo": bool(version.doc.get("performHPO")),
        "hpo_config": config.get("hpoConfig"),
        "action_interactions": snapshots.get("ACTION_INTERACTIONS") if action_recipe else None,
        "solution_config": config,
    }

    def record_progress(fraction: float) -> None:  # what the console's progress bar shows (not in any Describe)
        store.update(arn, only_if=(CREATE_IN_PROGRESS,), _progress=round(fraction, 3))

    def should_stop() -> bool:
        current = store.get(arn)
        return current is None or current.status == CREATE_STOPPING or lease_lost()

    try:
        result = run_isolated(Step(train_from_snapshots, kwargs, should_stop, on_progress=record_progress))
    except JobStopped:  # asked to stop, deleted, or taken over by another process (which then settles it)
        store.update(arn, status=CREATE_STOPPED, only_if=(CREATE_STOPPING,))
        return None
    except JobError as exc:
        log.warning("training %s failed: %s\n%s", arn, exc.message, exc.trace)
        store.update(arn, status=CREATE_FAILED, failureReason=exc.message)
        return None
    return None if lease_lost() else result


def _write_live_events(control: Control, group: str, path: Path) -> None:
    """Events received through PutEvents are interactions too: hand them to training as Parquet (always written,
    if empty, so that the attempt's stored inputs are never an empty directory, which S3 cannot hold)."""
    import pyarrow.parquet as pq

    pq.write_table(control.events.all_events(group), path)


def sweep_partial_models(control: Control, running: set[str], before: float) -> None:
    """Remove the scratch directories of killed training attempts, keeping those of ``running`` versions
    and of unfinished recommender trainings (their job runs under the recommender's ARN)."""
    objects = control.objects
    trainings = control.store.list(RECOMMENDER_TRAINING)
    busy = {objects.model_name(arn) for arn in running} | {
        objects.model_name(t.arn) for t in trainings if t.status in UNFINISHED
    }
    remove_leftovers(objects.models_root.glob(PARTIAL_MODELS), lambda path: objects.scratch_owner(path) in busy, before)


def job_handlers(control: Control, trained: VersionTrained) -> dict[str, JobHandler]:
    """Training jobs; ``trained`` is told of each version that becomes ACTIVE."""
    return {
        SOLUTION_VERSION.kind: JobHandler(
            lambda arn: run_training(control, arn, trained),
            lambda arn, why: SOLUTION_VERSION.fail(control, arn, why),
            lambda running, before: sweep_partial_models(control, running, before),
        )
    }


OPERATIONS = {
    "CreateSolution": create_solution,
    "DescribeSolution": describe_solution,
    "CreateSolutionVersion": create_solution_version,
    "StopSolutionVersionCreation": stop_solution_version_creation,
    "GetSolutionMetrics": get_solution_metrics,
}
