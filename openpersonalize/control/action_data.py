"""PutActionInteractions: users' interactions with actions, checked and stored for Next-Best-Action.

The trackingId is the one CreateDataset gave the group's ACTION_INTERACTIONS dataset. Every
interaction is checked in order — its action must be one of the group's ACTIONS dataset (imported
or sent with PutActions), its event type Taken, Not Taken or Viewed, its properties those of the
Action interactions schema — and the batch is committed before the 200. PutActions itself is
``LiveData.put_records`` (records of the ACTIONS dataset).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..data.actions import event_kind
from ..data.csv_import import read_snapshot
from ..data.schema import DatasetSchema
from ..errors import InvalidInputException, ResourceNotFoundException
from ..runtime.cache import Recent
from ..store.metadata import Resource
from . import datasets, schemas
from .base import Control
from .kinds import DATASET
from .live_data import parse_properties, sent_at

CACHE_SECONDS = 1.0
RESERVED = frozenset(
    {"USER_ID", "ACTION_ID", "TIMESTAMP", "EVENT_TYPE", "SESSION_ID", "RECOMMENDATION_ID", "IMPRESSION", "EVENT_ID"}
)


@dataclass(frozen=True)
class ActionInteraction:
    """One PutActionInteractions entry as sent (checked by ``ActionData.put_action_interactions``)."""

    action_id: str
    session_id: str
    event_type: str
    timestamp: Any
    user_id: str | None = None
    event_id: str | None = None
    recommendation_id: str | None = None
    impression: Sequence[str] | None = None
    properties: str | None = None


@dataclass(frozen=True)
class _Target:
    group_arn: str
    schema: DatasetSchema
    actions: Resource | None


def action_interactions_dataset(control: Control, tracking_id: str) -> Resource | None:
    """The ACTION_INTERACTIONS dataset whose tracker has this trackingId."""
    found = control.store.find(DATASET.kind, trackingId=tracking_id)
    return next((d for d in found if d.doc.get("datasetType") == "ACTION_INTERACTIONS"), None)


class ActionData:
    """PutActionInteractions for one server process, written to ``control.events.actions``."""

    def __init__(self, control: Control) -> None:
        self.control = control
        self._targets: Recent[_Target] = Recent(CACHE_SECONDS)
        self._known: dict[tuple[str, str | None, int], frozenset[str]] = {}
        self._lock = threading.Lock()

    def _target(self, tracking_id: str) -> _Target:
        return self._targets.get(tracking_id, lambda: self._read_target(tracking_id))

    def _read_target(self, tracking_id: str) -> _Target:
        dataset = action_interactions_dataset(self.control, tracking_id)
        if dataset is None:
            raise ResourceNotFoundException(
                f"trackingId {tracking_id} is not the tracker of an Action interactions dataset."
            )
        group_arn = dataset.doc["datasetGroupArn"]
        schema_res = self.control.store.get(dataset.doc["schemaArn"])
        if schema_res is None:
            raise ResourceNotFoundException(f"Schema {dataset.doc['schemaArn']} does not exist.")
        found = self.control.store.children(group_arn, (DATASET.kind,))
        actions = next((d for d in found if d.doc.get("datasetType") == "ACTIONS"), None)
        return _Target(group_arn, schemas.load_schema(schema_res), actions)

    def known_actions(self, actions: Resource) -> frozenset[str]:
        """The ACTION_IDs of an ACTIONS dataset: its snapshot's and those sent with PutActions."""
        key = (actions.arn, actions.doc.get("_snapshotId"), self.control.events.live_version(actions.arn))
        with self._lock:
            hit = self._known.get(key)
        if hit is not None:
            return hit
        table = read_snapshot(datasets.snapshot_path(self.control, actions), columns=["ACTION_ID"])
        ids = set(map(str, table["ACTION_ID"].to_pylist())) if table is not None else set()
        ids.update(str(r["id"]) for r in self.control.events.records(actions.arn))
        known = frozenset(ids)
        with self._lock:
            self._known = {key: known}  # one dataset's ids at a time: the newest asked for
        return known

    def put_action_interactions(self, tracking_id: str, interactions: Sequence[ActionInteraction]) -> None:
        """Check every interaction, then store them all (committed)."""
        target = self._target(tracking_id)
        if target.actions is None:
            raise InvalidInputException(
                f"Dataset group {target.group_arn} has no ACTIONS dataset: create it and add actions before "
                "recording action interactions."
            )
        known = self.known_actions(self.control.store.get(target.actions.arn) or target.actions)
        rows = []
        for n, entry in enumerate(interactions, start=1):
            where = f"actionInteractions.{n}"
            if entry.action_id not in known:
                raise InvalidInputException(
                    f"{where}.actionId {entry.action_id!r} is not an action of the ACTIONS dataset "
                    f"{target.actions.arn}; add it with PutActions or a dataset import first."
                )
            if event_kind(entry.event_type) is None:
                raise InvalidInputException(
                    f"{where}.eventType must be Taken, Not Taken or Viewed, got {entry.event_type!r}."
                )
            properties = parse_properties(
                entry.properties, target.schema, f"{where}.properties", RESERVED, "Action interactions"
            )
            rows.append(
                {
                    "dataset_group_arn": target.group_arn,
                    "user_id": entry.user_id,
                    "session_id": entry.session_id,
                    "event_id": entry.event_id,
                    "event_type": entry.event_type,
                    "action_id": entry.action_id,
                    "timestamp": sent_at(entry.timestamp, f"{where}.timestamp"),
                    "recommendation_id": entry.recommendation_id,
                    "impression": entry.impression,
                    "properties": properties or None,
                }
            )
        self.control.events.actions.append(rows)
