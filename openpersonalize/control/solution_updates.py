"""UpdateSolution, asynchronous as in Personalize: the update is recorded, then applied by a job.

``latestSolutionUpdate`` moves CREATE PENDING -> CREATE IN_PROGRESS -> ACTIVE (or CREATE FAILED); a
second UpdateSolution while one is unfinished is ResourceInUseException. The job merges the update
into the solution (performAutoTraining, performIncrementalUpdate, solutionConfig's autoTrainingConfig
and eventsConfig) and moves the automatic training schedule: turned on, the first training is due in
an hour; turned off, none is; a new rate starts counting now. Every write is a compare-and-set on the
update it applies, so a newer update is never overwritten by an older one.
"""

from __future__ import annotations

from typing import Any

from ..errors import ResourceInUseException
from ..jobs.runner import JobHandler
from ..recipes.registry import get_recipe
from . import training_schedule
from .action_training import check_action_config, is_action_recipe
from .base import ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_PENDING, Call, Control, now
from .kinds import SOLUTION
from .solution_config import check_training_config

UPDATE_JOB = "solution-update"
UNFINISHED_UPDATE = (CREATE_PENDING, CREATE_IN_PROGRESS)


def update_solution(call: Call) -> dict[str, Any]:
    p = call.params
    res = SOLUTION.get(call, p["solutionArn"])
    latest = res.doc.get("latestSolutionUpdate")
    if latest and latest.get("status") in UNFINISHED_UPDATE:
        raise ResourceInUseException(f"Solution {res.arn} has an update in progress; wait until it is ACTIVE.")
    config = p.get("solutionUpdateConfig") or {}
    auto = bool(p.get("performAutoTraining", res.doc.get("performAutoTraining")))
    merged = {**(res.doc.get("solutionConfig") or {}), **config}
    if auto or config.get("autoTrainingConfig"):
        training_schedule.interval_seconds(
            training_schedule.expression(merged), "solutionUpdateConfig.autoTrainingConfig.schedulingExpression"
        )
    recipe = get_recipe(res.doc["recipeArn"])
    if is_action_recipe(res.doc["recipeArn"]):
        check_action_config(config, "solutionUpdateConfig")
    if recipe is not None and config.get("eventsConfig"):
        events = {"eventsConfig": config["eventsConfig"]}
        check_training_config(recipe, res.doc.get("eventType"), events, "solutionUpdateConfig")
    stamp = now()
    update = {
        "solutionUpdateConfig": config,
        "performAutoTraining": auto,
        "performIncrementalUpdate": bool(p.get("performIncrementalUpdate", res.doc.get("performIncrementalUpdate"))),
        "status": CREATE_PENDING,
        "creationDateTime": stamp,
        "lastUpdatedDateTime": stamp,
    }
    expect = {"latestSolutionUpdate": latest}
    with call.store.transaction() as conn:  # recorded and queued together: a crash between left it pending for ever
        if call.store.update(res.arn, expect=expect, within=conn, latestSolutionUpdate=update) is None:
            raise ResourceInUseException(f"Solution {res.arn} was updated meanwhile; try again.")
        call.store.enqueue(res.arn, UPDATE_JOB, within=conn)
    call.control.wake_jobs()
    return {"solutionArn": res.arn}


def run_update(control: Control, arn: str) -> None:
    """Apply the solution's pending update and mark it ACTIVE."""
    res = control.store.get(arn)
    update = res.doc.get("latestSolutionUpdate") if res is not None else None
    if res is None or not update or update.get("status") not in UNFINISHED_UPDATE:
        return
    running = {**update, "status": CREATE_IN_PROGRESS, "lastUpdatedDateTime": now()}
    if control.store.update(arn, expect={"latestSolutionUpdate": update}, latestSolutionUpdate=running) is None:
        return
    before = res.doc.get("solutionConfig") or {}
    config = {**before, **running["solutionUpdateConfig"]}
    changes: dict[str, Any] = {
        "solutionConfig": config,
        "performAutoTraining": running["performAutoTraining"],
        "performIncrementalUpdate": running["performIncrementalUpdate"],
        "latestSolutionUpdate": {**running, "status": ACTIVE, "lastUpdatedDateTime": now()},
    }
    clock = control.clock()
    if not running["performAutoTraining"]:
        changes.update(training_schedule.stopped())
    elif not res.doc.get("performAutoTraining") or res.doc.get(training_schedule.NEXT) is None:
        changes.update(training_schedule.started(clock))
    elif training_schedule.expression(config) != training_schedule.expression(before):
        changes[training_schedule.NEXT] = clock + training_schedule.interval_of(config)
    if running["performAutoTraining"]:
        config["autoTrainingConfig"] = {"schedulingExpression": training_schedule.expression(config)}
    control.store.update(arn, expect={"latestSolutionUpdate": running}, **changes)


def fail_update(control: Control, arn: str, reason: str) -> None:
    """End the solution's unfinished update CREATE FAILED with ``reason``."""
    res = control.store.get(arn)
    update = res.doc.get("latestSolutionUpdate") if res is not None else None
    if res is None or not update or update.get("status") not in UNFINISHED_UPDATE:
        return
    failed = {**update, "status": CREATE_FAILED, "failureReason": reason, "lastUpdatedDateTime": now()}
    control.store.update(arn, expect={"latestSolutionUpdate": update}, latestSolutionUpdate=failed)


def job_handlers(control: Control) -> dict[str, JobHandler]:
    return {
        UPDATE_JOB: JobHandler(lambda arn: run_update(control, arn), lambda arn, why: fail_update(control, arn, why))
    }


OPERATIONS = {"UpdateSolution": update_solution}
