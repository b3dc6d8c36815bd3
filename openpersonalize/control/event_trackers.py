"""Event trackers: the trackingId that PutEvents writes a dataset group's live interactions with.

Only one tracker per dataset group, as in Personalize. The tracker ARN's suffix is derived
from the dataset group ARN, so two concurrent creates for one group collide on the ARN
and the second gets ResourceAlreadyExistsException atomically. (Describe/List/Delete: kinds.py.)
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from ..errors import ResourceAlreadyExistsException
from ..store.metadata import Resource
from .base import ACTIVE, Call, insert_resource
from .kinds import DATASET, DATASET_GROUP, EVENT_TRACKER


def _arn_suffix(group_arn: str) -> str:
    return hashlib.sha256(group_arn.encode()).hexdigest()[:8]


def interactions_dataset(call: Call, group_arn: str) -> Resource | None:
    """The group's INTERACTIONS dataset, if it has one."""
    found = call.store.children(group_arn, (DATASET.kind,))
    return next((d for d in found if d.doc.get("datasetType") == "INTERACTIONS"), None)


def create_event_tracker(call: Call) -> dict[str, Any]:
    p = call.params
    group = DATASET_GROUP.get(call, p["datasetGroupArn"])
    existing = call.store.children(group.arn, (EVENT_TRACKER.kind,))
    if existing:
        raise ResourceAlreadyExistsException(
            f"Dataset group {group.arn} already has event tracker {existing[0].arn}; "
            "only one event tracker can be associated with a dataset group."
        )
    arn = EVENT_TRACKER.arn(call, _arn_suffix(group.arn))
    tracking_id = str(uuid.uuid4())
    doc = {
        "name": p["name"],
        "eventTrackerArn": arn,
        "accountId": call.control.settings.account_id,
        "trackingId": tracking_id,
        "datasetGroupArn": group.arn,
    }
    insert_resource(
        call,
        Resource(arn, EVENT_TRACKER.kind, p["name"], group.arn, ACTIVE, doc),
        f"An event tracker for dataset group {group.arn}",
    )
    dataset = interactions_dataset(call, group.arn)
    if dataset is not None:
        call.store.update(dataset.arn, trackingId=tracking_id)
    return {"eventTrackerArn": arn, "trackingId": tracking_id}


def forget_tracker(call: Call, tracker: Resource, _gone: list[Resource]) -> None:
    """After DeleteEventTracker: PutEvents forgets its trackingId, and the INTERACTIONS dataset no longer shows it."""
    call.control.forget_tracking_id(tracker.doc["trackingId"])
    dataset = interactions_dataset(call, tracker.doc["datasetGroupArn"])
    if dataset is not None and dataset.doc.get("trackingId") == tracker.doc["trackingId"]:
        call.store.update(dataset.arn, trackingId=None)


def find_by_tracking_id(call: Call, tracking_id: str) -> Resource | None:
    """The tracker with this trackingId (trackers are few: one per dataset group)."""
    found = call.store.find(EVENT_TRACKER.kind, trackingId=tracking_id)
    return found[0] if found else None


OPERATIONS = {"CreateEventTracker": create_event_tracker}
