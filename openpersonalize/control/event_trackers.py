"""Event trackers: the trackingId that PutEvents writes a dataset group's live interactions with.

Only one tracker per dataset group, as in Personalize. The tracker ARN's suffix is derived
from the dataset group ARN, so two concurrent creates for one group collide on the ARN
and the second gets ResourceAlreadyExistsException atomically.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from ..errors import ResourceAlreadyExistsException
from ..store.metadata import Resource
from . import dataset_groups, datasets
from .base import ACTIVE, Call, describe, get_resource, insert_resource, paginate

KIND = "event-tracker"
LABEL = "Event tracker"


def _arn_suffix(group_arn: str) -> str:
    return hashlib.sha256(group_arn.encode()).hexdigest()[:8]


def interactions_dataset(call: Call, group_arn: str) -> Resource | None:
    """The group's INTERACTIONS dataset, if it has one."""
    found = call.store.children(group_arn, (datasets.KIND,))
    return next((d for d in found if d.doc.get("datasetType") == "INTERACTIONS"), None)


def create_event_tracker(call: Call) -> dict[str, Any]:
    p = call.params
    group = get_resource(call, p["datasetGroupArn"], dataset_groups.KIND, dataset_groups.LABEL)
    existing = call.store.children(group.arn, (KIND,))
    if existing:
        raise ResourceAlreadyExistsException(
            f"Dataset group {group.arn} already has event tracker {existing[0].arn}; "
            "only one event tracker can be associated with a dataset group."
        )
    arn = call.arn(KIND, _arn_suffix(group.arn))
    tracking_id = str(uuid.uuid4())
    doc = {
        "name": p["name"],
        "eventTrackerArn": arn,
        "accountId": call.control.settings.account_id,
        "trackingId": tracking_id,
        "datasetGroupArn": group.arn,
    }
    insert_resource(
        call, Resource(arn, KIND, p["name"], group.arn, ACTIVE, doc), f"An event tracker for dataset group {group.arn}"
    )
    dataset = interactions_dataset(call, group.arn)
    if dataset is not None:
        call.store.update(dataset.arn, trackingId=tracking_id)
    return {"eventTrackerArn": arn, "trackingId": tracking_id}


def describe_event_tracker(call: Call) -> dict[str, Any]:
    return {"eventTracker": describe(get_resource(call, call.params["eventTrackerArn"], KIND, LABEL))}


def list_event_trackers(call: Call) -> dict[str, Any]:
    parent = call.params.get("datasetGroupArn")
    if parent:
        get_resource(call, parent, dataset_groups.KIND, dataset_groups.LABEL)
    trackers, token = paginate(call, KIND, parent=parent)
    keys = ("name", "eventTrackerArn", "status", "creationDateTime", "lastUpdatedDateTime")
    return {"eventTrackers": [{k: t.get(k) for k in keys} for t in trackers], "nextToken": token}


def delete_event_tracker(call: Call) -> dict[str, Any]:
    res = get_resource(call, call.params["eventTrackerArn"], KIND, LABEL)
    call.store.delete(res.arn)
    call.control.forget_tracking_id(res.doc["trackingId"])
    dataset = interactions_dataset(call, res.doc["datasetGroupArn"])
    if dataset is not None and dataset.doc.get("trackingId") == res.doc["trackingId"]:
        call.store.update(dataset.arn, trackingId=None)
    return {}


def find_by_tracking_id(call: Call, tracking_id: str) -> Resource | None:
    """The tracker with this trackingId (trackers are few: one per dataset group)."""
    found = call.store.find(KIND, trackingId=tracking_id)
    return found[0] if found else None


OPERATIONS = {
    "CreateEventTracker": create_event_tracker,
    "DescribeEventTracker": describe_event_tracker,
    "ListEventTrackers": list_event_trackers,
    "DeleteEventTracker": delete_event_tracker,
}
