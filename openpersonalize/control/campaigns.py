"""Campaigns: a solution version deployed for real-time recommendations.

Creating or updating a campaign queues a deploy job that loads the model first
and only then points the campaign at it, so a switch is atomic: every request
sees either the old version or the new one, never a half-loaded model. (Describe/List/Delete: kinds.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InvalidInputException
from ..jobs.runner import JobHandler
from ..store.metadata import Resource
from .base import (
    ACTIVE,
    CREATE_FAILED,
    CREATE_IN_PROGRESS,
    CREATE_PENDING,
    Call,
    Control,
    insert_resource,
    now,
    refuse_if_in_use,
    require_active,
)
from .kinds import CAMPAIGN, SOLUTION_VERSION

DEPLOY_JOB = "campaign-deploy"

# Set by the runtime: loads (and caches) a solution version's model, raising if it cannot.
ModelLoader = Callable[[str], Any]


def _active_version(call: Call, arn: str) -> Resource:
    version = SOLUTION_VERSION.get(call, arn)
    require_active(version, SOLUTION_VERSION.label)
    return version


def _config(params: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    config = dict(current or {})
    config.update(params.get("campaignConfig") or {})
    exploration = config.get("itemExplorationConfig") or {}
    for key, value in exploration.items():
        try:
            number = float(value)
        except ValueError:
            raise InvalidInputException(f"campaignConfig.itemExplorationConfig.{key} must be a number.") from None
        if key == "explorationWeight" and not 0.0 <= number <= 1.0:
            raise InvalidInputException("campaignConfig.itemExplorationConfig.explorationWeight must be in [0, 1].")
    return config


def create_campaign(call: Call) -> dict[str, Any]:
    p = call.params
    version = _active_version(call, p["solutionVersionArn"])
    arn = CAMPAIGN.arn(call, p["name"])
    config = _config(p)
    tps = p.get("minProvisionedTPS", 1)
    doc = {
        "name": p["name"],
        "campaignArn": arn,
        "solutionVersionArn": version.arn,
        "minProvisionedTPS": tps,
        "campaignConfig": config,
        "_pending": {"solutionVersionArn": version.arn, "minProvisionedTPS": tps, "campaignConfig": config},
    }
    res = Resource(arn, CAMPAIGN.kind, p["name"], version.doc["solutionArn"], CREATE_PENDING, doc)
    insert_resource(call, res, CAMPAIGN.label, job_kind=DEPLOY_JOB, requires=(version.arn,))
    return {"campaignArn": arn}


def update_campaign(call: Call) -> dict[str, Any]:
    p = call.params
    res = CAMPAIGN.get(call, p["campaignArn"])
    if res.doc.get("_pending"):
        refuse_if_in_use(res, [res], CAMPAIGN.label + " update")
    version_arn = p.get("solutionVersionArn") or res.doc["solutionVersionArn"]
    version = _active_version(call, version_arn)
    if version.doc["solutionArn"] != res.parent:
        raise InvalidInputException(
            f"solutionVersionArn {version_arn} belongs to another solution than campaign {res.arn}."
        )
    pending = {
        "solutionVersionArn": version.arn,
        "minProvisionedTPS": p.get("minProvisionedTPS", res.doc["minProvisionedTPS"]),
        "campaignConfig": _config(p, res.doc.get("campaignConfig")),
    }
    _queue_switch(call.control, res.arn, pending)
    return {"campaignArn": res.arn}


def _queue_switch(control: Control, arn: str, pending: dict[str, Any]) -> None:
    """Record a pending update (shown as latestCampaignUpdate) and queue the deploy job that applies it."""
    stamp = now()
    update = {**pending, "status": CREATE_PENDING, "creationDateTime": stamp, "lastUpdatedDateTime": stamp}
    control.store.update(arn, _pending=pending, latestCampaignUpdate=update)
    control.store.enqueue(arn, DEPLOY_JOB)
    control.wake_jobs()


def sync_to_version(control: Control, solution_arn: str, version_arn: str) -> None:
    """Campaigns with ``syncWithLatestSolutionVersion`` move to a solution's newest ACTIVE version."""
    for campaign in control.store.children(solution_arn, (CAMPAIGN.kind,)):
        config = campaign.doc.get("campaignConfig") or {}
        if not config.get("syncWithLatestSolutionVersion") or campaign.doc["solutionVersionArn"] == version_arn:
            continue
        pending = {
            "solutionVersionArn": version_arn,
            "minProvisionedTPS": campaign.doc["minProvisionedTPS"],
            "campaignConfig": config,
        }
        _queue_switch(control, campaign.arn, pending)


def run_deploy(control: Control, load_model: ModelLoader, arn: str) -> None:
    """Load the pending version's model, then switch the campaign to it in one write."""
    res = control.store.get(arn)
    if res is None or not res.doc.get("_pending"):
        return
    pending = res.doc["_pending"]
    first = res.status != ACTIVE
    update = res.doc.get("latestCampaignUpdate")
    if first:
        control.store.update(arn, status=CREATE_IN_PROGRESS)
    elif update:
        control.store.update(arn, latestCampaignUpdate={**update, "status": CREATE_IN_PROGRESS})
    try:
        load_model(pending["solutionVersionArn"])
    except Exception as exc:
        _fail(control, arn, f"Could not load solution version {pending['solutionVersionArn']}: {exc}")
        return
    changes: dict[str, Any] = {**pending, "_pending": None}
    if update:
        changes["latestCampaignUpdate"] = {**update, "status": ACTIVE, "lastUpdatedDateTime": now()}
    control.store.update(arn, status=ACTIVE, **changes)


def _fail(control: Control, arn: str, reason: str) -> None:
    res = control.store.get(arn)
    if res is None:
        return
    if res.status == ACTIVE and res.doc.get("latestCampaignUpdate"):
        update = {**res.doc["latestCampaignUpdate"], "status": CREATE_FAILED, "failureReason": reason}
        control.store.update(arn, _pending=None, latestCampaignUpdate=update)
    else:
        control.store.update(arn, status=CREATE_FAILED, failureReason=reason, _pending=None)


def job_handlers(control: Control, load_model: ModelLoader) -> dict[str, JobHandler]:
    return {
        DEPLOY_JOB: JobHandler(
            lambda arn: run_deploy(control, load_model, arn), lambda arn, why: _fail(control, arn, why)
        )
    }


OPERATIONS = {"CreateCampaign": create_campaign, "UpdateCampaign": update_campaign}
