"""Campaigns: a solution version deployed for real-time recommendations.

Creating or updating a campaign queues a deploy job that loads the model first
and only then points the campaign at it, so a switch is atomic: every request
sees either the old version or the new one, never a half-loaded model. (Describe/List/Delete: kinds.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InvalidInputException, ResourceInUseException
from ..jobs.runner import JobHandler
from ..recipes.registry import USER_SEGMENTATION, get_recipe
from ..store.metadata import Connection, Resource
from .base import (
    ACTIVE,
    CREATE_FAILED,
    CREATE_IN_PROGRESS,
    CREATE_PENDING,
    Call,
    Control,
    insert_resource,
    now,
    require_active,
)
from .exploration import check_exploration
from .kinds import CAMPAIGN, SOLUTION, SOLUTION_VERSION

DEPLOY_JOB = "campaign-deploy"
LATEST = "/$LATEST"  # solutionVersionArn: SolutionArn/$LATEST, the solution's newest ACTIVE version

# Set by the runtime: loads (and caches) a solution version's model, raising if it cannot.
ModelLoader = Callable[[str], Any]


def _latest_active(call: Call, solution_arn: str) -> str:
    """The ARN of the solution's newest ACTIVE version (what ``SolutionArn/$LATEST`` names)."""
    solution = SOLUTION.get(call, solution_arn)
    for version in call.store.list(SOLUTION_VERSION.kind, parent=solution.arn):
        if version.status == ACTIVE:
            return version.arn
    raise InvalidInputException(f"solutionVersionArn: solution {solution.arn} has no ACTIVE solution version yet.")


def _active_version(call: Call, arn: str) -> Resource:
    """The ACTIVE solution version ``arn`` names: a version's ARN, or ``SolutionArn/$LATEST`` as Personalize takes
    it (with syncWithLatestSolutionVersion) for the solution's newest ACTIVE version."""
    if arn.endswith(LATEST):
        arn = _latest_active(call, arn.removesuffix(LATEST))
    version = SOLUTION_VERSION.get(call, arn)
    require_active(version, SOLUTION_VERSION.label)
    recipe = get_recipe(version.doc["recipeArn"])
    if recipe is not None and recipe.recipe_type == USER_SEGMENTATION:
        raise InvalidInputException(
            f"solutionVersionArn {arn} was trained with {recipe.name}, a USER_SEGMENTATION recipe: it cannot be "
            "deployed in a campaign; get its user segments with CreateBatchSegmentJob."
        )
    return version


def _config(params: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    config = dict(current or {})
    config.update(params.get("campaignConfig") or {})
    check_exploration(config.get("itemExplorationConfig") or {}, "campaignConfig.itemExplorationConfig")
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
        _refuse_update(res)
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
    with call.store.transaction() as conn:
        queued = _queue_switch(call.control, res, pending, conn)
    if not queued:
        _refuse_update(res)
    call.control.wake_jobs()
    return {"campaignArn": res.arn}


def _refuse_update(res: Resource) -> None:
    """ResourceInUseException naming what is still in progress: the campaign's creation or its latest update."""
    if res.status != ACTIVE:
        doing = f"it is {res.status}"
    else:
        doing = f"its latest update is {(res.doc.get('latestCampaignUpdate') or {}).get('status', 'in progress')}"
    raise ResourceInUseException(f"{CAMPAIGN.label} {res.arn} cannot be updated while {doing}; retry once it is done.")


def _queue_switch(control: Control, read: Resource, pending: dict[str, Any], within: Connection) -> bool:
    """Record a pending update (shown as latestCampaignUpdate) and queue the deploy job that applies it, both in
    the caller's transaction ``within`` (the caller wakes the job runner once it committed).

    Only while the campaign's pending and latest update are still those of ``read``, the state
    ``pending`` was derived from: a switch queued or applied since then is neither overwritten nor
    undone with stale values. False when the campaign changed meanwhile.
    """
    stamp = now()
    update = {**pending, "status": CREATE_PENDING, "creationDateTime": stamp, "lastUpdatedDateTime": stamp}
    expect = {key: read.doc.get(key) for key in ("_pending", "latestCampaignUpdate")}
    store = control.store
    if store.update(read.arn, expect=expect, within=within, _pending=pending, latestCampaignUpdate=update) is None:
        return False
    store.enqueue(read.arn, DEPLOY_JOB, within=within)
    return True


def sync_to_version(control: Control, solution_arn: str, version_arn: str, within: Connection) -> None:
    """Campaigns with ``syncWithLatestSolutionVersion`` move to a solution's newest ACTIVE version.

    Their switches are queued in ``within``, the transaction that writes the version ACTIVE: whoever reads
    the version ACTIVE reads the switch queued too (the caller wakes the job runner once it committed).
    """
    for campaign in control.store.children(solution_arn, (CAMPAIGN.kind,), within):
        while campaign is not None and not _sync_one(control, campaign, version_arn, within):
            campaign = control.store.get(campaign.arn, within)  # a switch was queued meanwhile: build on it


def _sync_one(control: Control, campaign: Resource, version_arn: str, within: Connection) -> bool:
    """Queue ``campaign``'s move to ``version_arn``, on top of any pending update; False if that changed meanwhile."""
    replacing = campaign.doc.get("_pending")
    target = replacing or campaign.doc
    config = target.get("campaignConfig") or {}
    if not config.get("syncWithLatestSolutionVersion") or target["solutionVersionArn"] == version_arn:
        return True
    pending = {
        "solutionVersionArn": version_arn,
        "minProvisionedTPS": target["minProvisionedTPS"],
        "campaignConfig": config,
    }
    return _queue_switch(control, campaign, pending, within)


def run_deploy(control: Control, load_model: ModelLoader, arn: str) -> None:
    """Load the pending version's model, then switch the campaign to it in one write."""
    res = control.store.get(arn)
    if res is None or not res.doc.get("_pending"):
        return
    pending = res.doc["_pending"]
    first = res.status != ACTIVE
    update = res.doc.get("latestCampaignUpdate")
    ours = {"_pending": pending}  # every write below is a compare-and-set on it: a newer switch is never cleared
    if first:
        control.store.update(arn, status=CREATE_IN_PROGRESS, expect=ours)
    elif update:
        control.store.update(arn, expect=ours, latestCampaignUpdate={**update, "status": CREATE_IN_PROGRESS})
    try:
        load_model(pending["solutionVersionArn"])
    except Exception as exc:
        _fail(control, arn, f"Could not load solution version {pending['solutionVersionArn']}: {exc}", pending)
        return
    changes: dict[str, Any] = {**pending, "_pending": None}
    if update:
        changes["latestCampaignUpdate"] = {**update, "status": ACTIVE, "lastUpdatedDateTime": now()}
    control.store.update(arn, status=ACTIVE, expect=ours, **changes)  # superseded: the newer switch's job runs next


def _fail(control: Control, arn: str, reason: str, pending: dict[str, Any] | None = None) -> None:
    """End the pending update ``pending`` (by default the stored one) failed, unless a newer one replaced it."""
    res = control.store.get(arn)
    if res is None:
        return
    ours = {"_pending": pending if pending is not None else res.doc.get("_pending")}
    if res.status == ACTIVE and res.doc.get("latestCampaignUpdate"):
        update = {**res.doc["latestCampaignUpdate"], "status": CREATE_FAILED, "failureReason": reason}
        control.store.update(arn, expect=ours, _pending=None, latestCampaignUpdate=update)
    else:
        control.store.update(arn, status=CREATE_FAILED, expect=ours, failureReason=reason, _pending=None)


def job_handlers(control: Control, load_model: ModelLoader) -> dict[str, JobHandler]:
    return {
        DEPLOY_JOB: JobHandler(
            lambda arn: run_deploy(control, load_model, arn), lambda arn, why: _fail(control, arn, why)
        )
    }


OPERATIONS = {"CreateCampaign": create_campaign, "UpdateCampaign": update_campaign}
