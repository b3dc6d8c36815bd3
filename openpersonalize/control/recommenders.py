"""Recommenders: a domain dataset group's use case, trained on its data and served (Describe/List: kinds.py).

A recommender's models come from internal *trainings* (stored kind ``recommender-training``, children of
the recommender, never listed): documents shaped like a solution version's, so ``solutions.run_training``
trains them unchanged (recipe, event type, configuration, scratch directory, metrics). The recommender's
training job (queued by CreateRecommender, and by an UpdateRecommender that changes trainingDataConfig)
first checks the use case's required events, trains, loads the model, then points the recommender at it
in one compare-and-set write; until then an update's progress shows in ``latestRecommenderUpdate`` and
the previous model serves. Stop and Start move through Personalize's statuses in a second job.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyarrow.compute as pc

from ..data.csv_import import read_snapshot
from ..errors import InvalidInputException, ResourceInUseException
from ..jobs.runner import JobHandler
from ..recipes.registry import MIN_USE_CASE_EVENTS, RecipeInfo, UseCase, all_recipes
from ..store.metadata import AlreadyExists, ParentGone, Resource
from . import datasets, solutions
from .base import (
    ACTIVE,
    CREATE_FAILED,
    CREATE_IN_PROGRESS,
    CREATE_PENDING,
    UNFINISHED,
    Call,
    Control,
    delete_resource,
    insert_resource,
    now,
)
from .exploration import check_exploration
from .kinds import DATASET_GROUP, RECOMMENDER, RECOMMENDER_TRAINING
from .recipe_catalogue import require_recipe
from .training_columns import checked_columns, group_datasets

STOP_PENDING, STOP_IN_PROGRESS, INACTIVE = "STOP PENDING", "STOP IN_PROGRESS", "INACTIVE"
START_PENDING, START_IN_PROGRESS = "START PENDING", "START IN_PROGRESS"
BUSY = (CREATE_PENDING, CREATE_IN_PROGRESS, STOP_PENDING, STOP_IN_PROGRESS, START_PENDING, START_IN_PROGRESS)
STATE_JOB = "recommender-state"
REQUIRED_COLUMNS = ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE")  # always trained on

# Set by the runtime: loads (and caches) a trained model by its training's ARN, raising if it cannot.
ModelLoader = Callable[[str], Any]


def _domain_recipe(group: Resource, recipe_arn: str) -> tuple[RecipeInfo, UseCase]:
    """The recipe and its use case, which must be of the group's domain."""
    domain = group.doc.get("domain")
    if not domain:
        raise InvalidInputException(
            f"datasetGroupArn: {group.arn} has no domain; a recommender needs a domain dataset group "
            "(CreateDatasetGroup with domain VIDEO_ON_DEMAND or ECOMMERCE)."
        )
    recipe = require_recipe(recipe_arn)
    if recipe.use_case is None:
        raise InvalidInputException(
            f"recipeArn: {recipe.arn} is a custom recipe; a recommender takes a {domain} use case "
            f"(ListRecipes with domain={domain})."
        )
    if recipe.use_case.domain != domain:
        raise InvalidInputException(
            f"recipeArn: {recipe.name} is a {recipe.use_case.domain} use case, but dataset group {group.arn} "
            f"has domain {domain}."
        )
    return recipe, recipe.use_case


def _check_datasets(name: str, use_case: UseCase, present: dict[str, Resource]) -> None:
    """The use case's datasets exist, and interactions were imported (the training needs them)."""
    for kind in use_case.datasets:
        if kind not in present:
            raise InvalidInputException(f"recipeArn: {name} needs a {kind} dataset in the dataset group.")
    if not present["INTERACTIONS"].doc.get("_snapshot"):
        raise InvalidInputException("The dataset group has no imported INTERACTIONS data to train on.")


def _training_columns(control: Control, config: dict[str, Any], present: dict[str, Resource]) -> dict[str, Any]:
    """trainingDataConfig with every column checked against its dataset's schema and spelled as there."""
    return checked_columns(control, config, present, "recommenderConfig.trainingDataConfig", REQUIRED_COLUMNS)


def _checked_config(call: Call, recipe: RecipeInfo, config: dict[str, Any], present: dict[str, Resource]) -> None:
    use_case = recipe.use_case
    exploration = config.get("itemExplorationConfig")
    if exploration:
        if use_case is None or not use_case.exploration:
            exploring = ", ".join(r.name for r in all_recipes() if r.use_case and r.use_case.exploration)
            raise InvalidInputException(
                f"recommenderConfig.itemExplorationConfig: {recipe.name} does not explore new items "
                f"(only {exploring} do)."
            )
        check_exploration(exploration, "recommenderConfig.itemExplorationConfig")
    _training_columns(call.control, config.get("trainingDataConfig") or {}, present)


def create_recommender(call: Call) -> dict[str, Any]:
    p = call.params
    group = DATASET_GROUP.get(call, p["datasetGroupArn"])
    recipe, use_case = _domain_recipe(group, p["recipeArn"])
    present = group_datasets(call.control, group.arn)
    _check_datasets(recipe.name, use_case, present)
    config = {"minRecommendationRequestsPerSecond": 1, **(p.get("recommenderConfig") or {})}
    _checked_config(call, recipe, config, present)
    arn = RECOMMENDER.arn(call, p["name"])
    doc = {
        "name": p["name"],
        "recommenderArn": arn,
        "datasetGroupArn": group.arn,
        "recipeArn": recipe.arn,
        "recommenderConfig": config,
        "_pending": {"trainingArn": _training_arn(arn), "recommenderConfig": config},
    }
    res = Resource(arn, RECOMMENDER.kind, p["name"], group.arn, CREATE_PENDING, doc)
    insert_resource(call, res, RECOMMENDER.label, job_kind=RECOMMENDER_TRAINING)
    return {"recommenderArn": arn}


def _training_arn(recommender_arn: str) -> str:
    return f"{recommender_arn}/{uuid.uuid4().hex[:8]}"


def update_recommender(call: Call) -> dict[str, Any]:
    """New recommenderConfig over the current one: applied at once, or after a retraining when
    trainingDataConfig changes (the current model serves meanwhile)."""
    res = RECOMMENDER.get(call, call.params["recommenderArn"])
    if res.status != ACTIVE:
        raise ResourceInUseException(f"Recommender {res.arn} is {res.status}; it can be updated once ACTIVE.")
    if res.doc.get("_pending"):
        raise ResourceInUseException(f"Recommender {res.arn} has an update in progress; retry once it is done.")
    recipe = require_recipe(res.doc["recipeArn"])
    current = res.doc.get("recommenderConfig") or {}
    config = {**current, **call.params["recommenderConfig"]}
    _checked_config(call, recipe, config, group_datasets(call.control, res.doc["datasetGroupArn"]))
    stamp = now()
    retrain = (config.get("trainingDataConfig") or {}) != (current.get("trainingDataConfig") or {})
    update = {"recommenderConfig": config, "creationDateTime": stamp, "lastUpdatedDateTime": stamp}
    expect = {"_pending": None, "latestRecommenderUpdate": res.doc.get("latestRecommenderUpdate")}
    if retrain:
        pending = {"trainingArn": _training_arn(res.arn), "recommenderConfig": config}
        changes = {"_pending": pending, "latestRecommenderUpdate": {**update, "status": CREATE_PENDING}}
    else:
        changes = {"recommenderConfig": config, "latestRecommenderUpdate": {**update, "status": ACTIVE}}
    job = RECOMMENDER_TRAINING if retrain else None
    if not _changed(call, res.arn, job, only_if=(ACTIVE,), expect=expect, **changes):
        raise ResourceInUseException(f"Recommender {res.arn} changed meanwhile; describe it and try again.")
    return {"recommenderArn": res.arn}


def _changed(call: Call, arn: str, job: str | None, **update: Any) -> bool:
    """``MetadataStore.update(arn, **update)`` and, when it applied, ``job`` queued in the same transaction (a
    server killed between the two left the change pending for ever); whether it applied."""
    with call.store.transaction() as conn:
        if call.store.update(arn, within=conn, **update) is None:
            return False
        if job is not None:
            call.store.enqueue(arn, job, within=conn)
    if job is not None:
        call.control.wake_jobs()
    return True


def _change_state(call: Call, ready: str, pending: str, verb: str) -> dict[str, Any]:
    """Move a ``ready`` recommender to ``pending`` and queue the job that carries the change through; never while
    an update retrains it (the state job would take the place of the training's job and end it)."""
    res = RECOMMENDER.get(call, call.params["recommenderArn"])
    if not _changed(call, res.arn, STATE_JOB, status=pending, only_if=(ready,), expect={"_pending": None}):
        now_is = "has an update in progress" if res.status == ready else f"is {res.status}"
        raise ResourceInUseException(
            f"Recommender {res.arn} {now_is}; only an {ready} recommender with no update in progress can {verb}."
        )
    return {"recommenderArn": res.arn}


def stop_recommender(call: Call) -> dict[str, Any]:
    return _change_state(call, ACTIVE, STOP_PENDING, "stop")


def start_recommender(call: Call) -> dict[str, Any]:
    return _change_state(call, INACTIVE, START_PENDING, "start")


def delete_recommender(call: Call) -> dict[str, Any]:
    """Delete a settled recommender with its trainings and their models."""
    res = RECOMMENDER.get(call, call.params["recommenderArn"])
    if res.status in BUSY or res.doc.get("_pending"):
        raise ResourceInUseException(f"Recommender {res.arn} is {res.status} or updating; delete it once settled.")
    gone = delete_resource(call, res, RECOMMENDER.label, lambda d: d.status in UNFINISHED)
    for training in gone:
        call.control.objects.remove_model(training.arn)
    return {}


# -- the jobs ---------------------------------------------------------------------------------


def _event_counts(control: Control, group_arn: str) -> Counter[str]:
    """Interactions per event type: imported and received through PutEvents."""
    counts: Counter[str] = Counter()
    interactions = group_datasets(control, group_arn).get("INTERACTIONS")
    path = datasets.snapshot_path(control, interactions) if interactions else None
    tables = [read_snapshot(path, ["EVENT_TYPE"]) if path else None, control.events.all_events(group_arn)]
    for table in tables:
        if table is not None and "EVENT_TYPE" in table.column_names and table.num_rows:
            for entry in pc.value_counts(table["EVENT_TYPE"]).to_pylist():
                counts[str(entry["values"])] += int(entry["counts"])
    return counts


def _training_event_type(control: Control, recommender: Resource, use_case: UseCase) -> str | None:
    """The spelling of the required event type in the data (matched case-insensitively) the model trains on;
    ValueError naming the shortfall when there are fewer than MIN_USE_CASE_EVENTS of them."""
    wanted = use_case.required_event_type
    if wanted is None:
        return None
    counts = _event_counts(control, recommender.doc["datasetGroupArn"])
    spellings = {name: n for name, n in counts.items() if name.casefold() == wanted.casefold()}
    found = sum(spellings.values())
    if found < MIN_USE_CASE_EVENTS:
        raise ValueError(
            f"{recommender.doc['recipeArn'].rsplit('/', 1)[-1]} needs at least {MIN_USE_CASE_EVENTS} "
            f"{wanted} events (EVENT_TYPE); the dataset group has {found}."
        )
    return max(spellings, key=spellings.__getitem__) if use_case.trains_on_required else None


def _training(control: Control, recommender: Resource, pending: dict[str, Any]) -> Resource | None:
    """The pending training, stored on first use (None: the recommender was deleted meanwhile)."""
    arn = pending["trainingArn"]
    existing = control.store.get(arn)
    if existing is not None:
        return existing
    recipe = require_recipe(recommender.doc["recipeArn"])
    assert recipe.use_case is not None
    config = pending["recommenderConfig"]
    doc = {
        "solutionArn": recommender.arn,  # the parent run_training reports to
        "datasetGroupArn": recommender.doc["datasetGroupArn"],
        "recipeArn": recipe.arn,
        "performHPO": False,
        "trainingMode": "FULL",
        "_previous": None,
        "solutionConfig": {},
    }
    try:
        doc["eventType"] = _training_event_type(control, recommender, recipe.use_case)
        present = group_datasets(control, recommender.doc["datasetGroupArn"])
        columns = _training_columns(control, config.get("trainingDataConfig") or {}, present)
    except (ValueError, InvalidInputException) as exc:
        doc["failureReason"] = str(exc)
        status = CREATE_FAILED
    else:
        status = CREATE_PENDING
        doc["solutionConfig"] = {"trainingDataConfig": columns} if columns else {}
    try:
        control.store.insert(Resource(arn, RECOMMENDER_TRAINING, recommender.name, recommender.arn, status, doc))
    except AlreadyExists:
        pass
    except ParentGone:
        return None
    return control.store.get(arn)


def run_recommender_training(control: Control, load_model: ModelLoader, arn: str) -> None:
    """Train the recommender's pending training, load its model, then switch the recommender to it."""
    res = control.store.get(arn)
    if res is None or not res.doc.get("_pending"):
        return
    pending = res.doc["_pending"]
    ours = {"_pending": pending}  # every write is a compare-and-set on it
    update = res.doc.get("latestRecommenderUpdate")
    first = res.status in (CREATE_PENDING, CREATE_IN_PROGRESS)
    if first:
        control.store.update(arn, status=CREATE_IN_PROGRESS, expect=ours)
    elif update:
        control.store.update(arn, expect=ours, latestRecommenderUpdate={**update, "status": CREATE_IN_PROGRESS})
    training = _training(control, res, pending)
    if training is None:
        return
    if training.status != CREATE_FAILED:
        solutions.run_training(control, training.arn, lambda *_: None)
        training = control.store.get(training.arn)
    if training is None or training.status != ACTIVE:
        why = training.doc.get("failureReason") if training else None
        _fail(control, arn, why or "The training was interrupted.", pending)
        return
    try:
        load_model(training.arn)
    except Exception as exc:
        _fail(control, arn, f"Could not load the trained model: {exc}", pending)
        return
    changes: dict[str, Any] = {
        "_pending": None,
        "_training": training.arn,
        "recommenderConfig": pending["recommenderConfig"],
        "modelMetrics": training.doc.get("_metrics") or {},
    }
    if first:
        control.store.update(arn, status=ACTIVE, expect=ours, **changes)
    else:
        done = {**(update or {}), "status": ACTIVE, "lastUpdatedDateTime": now()}
        control.store.update(arn, expect=ours, latestRecommenderUpdate=done, **changes)


def _fail(control: Control, arn: str, reason: str, pending: dict[str, Any] | None = None) -> None:
    """End the pending training ``pending`` (by default the stored one) failed, unless a newer one replaced it."""
    res = control.store.get(arn)
    if res is None:
        return
    ours = {"_pending": pending if pending is not None else res.doc.get("_pending")}
    if res.status in (CREATE_PENDING, CREATE_IN_PROGRESS):
        control.store.update(arn, status=CREATE_FAILED, expect=ours, failureReason=reason, _pending=None)
    else:
        update = {**(res.doc.get("latestRecommenderUpdate") or {}), "status": CREATE_FAILED, "failureReason": reason}
        control.store.update(arn, expect=ours, _pending=None, latestRecommenderUpdate=update)


def _abandon(control: Control, arn: str, reason: str) -> None:
    """The job runner gave up on the recommender's training job (interrupted too often): its pending training
    ends failed too, else, unfinished for ever, it would refuse DeleteRecommender; then the recommender fails."""
    res = control.store.get(arn)
    training = ((res.doc.get("_pending") or {}) if res is not None else {}).get("trainingArn")
    if training:
        control.store.update(training, status=CREATE_FAILED, only_if=UNFINISHED, failureReason=reason)
    _fail(control, arn, reason)


def run_state_change(control: Control, load_model: ModelLoader, arn: str) -> None:
    """STOP PENDING -> STOP IN_PROGRESS -> INACTIVE, or START PENDING -> START IN_PROGRESS -> (model loaded) ACTIVE."""
    res = control.store.get(arn)
    if res is None:
        return
    if res.status in (STOP_PENDING, STOP_IN_PROGRESS):
        control.store.update(arn, status=STOP_IN_PROGRESS, only_if=(STOP_PENDING, STOP_IN_PROGRESS))
        control.store.update(arn, status=INACTIVE, only_if=(STOP_IN_PROGRESS,))
    elif res.status in (START_PENDING, START_IN_PROGRESS):
        control.store.update(arn, status=START_IN_PROGRESS, only_if=(START_PENDING, START_IN_PROGRESS))
        try:
            load_model(res.doc["_training"])
        except Exception as exc:
            _settle(control, arn, f"Could not load the trained model: {exc}")
            return
        control.store.update(arn, status=ACTIVE, only_if=(START_IN_PROGRESS,), failureReason=None)


def _settle(control: Control, arn: str, reason: str) -> None:
    """A state change that cannot finish leaves the recommender INACTIVE, saying why."""
    changing = (STOP_PENDING, STOP_IN_PROGRESS, START_PENDING, START_IN_PROGRESS)
    control.store.update(arn, status=INACTIVE, only_if=changing, failureReason=reason)


def job_handlers(control: Control, load_model: ModelLoader) -> dict[str, JobHandler]:
    """Recommender trainings and state changes; ``load_model`` loads a trained model as the runtime serves it."""
    return {
        RECOMMENDER_TRAINING: JobHandler(
            lambda arn: run_recommender_training(control, load_model, arn), lambda arn, why: _abandon(control, arn, why)
        ),
        STATE_JOB: JobHandler(
            lambda arn: run_state_change(control, load_model, arn), lambda arn, why: _settle(control, arn, why)
        ),
    }


OPERATIONS = {
    "CreateRecommender": create_recommender,
    "UpdateRecommender": update_recommender,
    "DeleteRecommender": delete_recommender,
    "StartRecommender": start_recommender,
    "StopRecommender": stop_recommender,
}
