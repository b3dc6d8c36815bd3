"""Live events never outlive their INTERACTIONS dataset's purge (docs/architecture.md, "A deleted event tracker").

A node caches a trackingId's target for a second, so PutEvents on one node may still send events for a
dataset another node has just deleted. The group commit stores them only while the dataset's row exists
(read FOR SHARE in its transaction; SQLite's writers take turns): before the delete they are purged with
the rest, after it they are refused, so a group re-created under the same ARN never starts with them.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from openpersonalize.store.events import DatasetGone, EventStore
from openpersonalize.store.metadata import MetadataStore, Resource

GROUP = "arn:aws:personalize:eu-west-3:000000000000:dataset-group/g"
DATASET = GROUP + "/INTERACTIONS"


def _world(tmp_path: Path) -> tuple[MetadataStore, EventStore]:
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    store.insert(Resource(GROUP, "dataset-group", "g", None, "ACTIVE", {}))
    store.insert(Resource(DATASET, "dataset", "i", GROUP, "ACTIVE", {"datasetType": "INTERACTIONS"}))
    return store, EventStore(store)


def _event(n: int) -> dict:
    return {"dataset_group_arn": GROUP, "tracking_id": "t", "user_id": "u", "session_id": "s",
            "event_type": "click", "item_id": f"i{n}", "timestamp": 1_700_000_000 + n}  # fmt: skip


def _delete_dataset(store: MetadataStore, events: EventStore) -> None:
    """What DeleteDataset does: the row, then the purge of the group's live events."""
    store.delete(DATASET)
    events.forget_dataset(DATASET, GROUP, "INTERACTIONS")


def test_events_for_a_deleted_dataset_are_refused(tmp_path: Path) -> None:
    store, events = _world(tmp_path)
    events.append_events([_event(0)], DATASET)
    assert len(list(events.group_events(GROUP))) == 1
    _delete_dataset(store, events)
    with pytest.raises(DatasetGone):
        events.append_events([_event(1)], DATASET)
    assert list(events.group_events(GROUP)) == []


def test_events_racing_a_delete_are_purged_or_refused(tmp_path: Path) -> None:
    """A writer keeps sending through a delete: whatever it sent before is purged, nothing after is kept."""
    store, events = _world(tmp_path)
    halfway = threading.Event()
    refused: list[int] = []

    def send() -> None:
        for n in range(200):
            try:
                events.append_events([_event(n)], DATASET)
            except DatasetGone:
                refused.append(n)
            if n == 50:
                halfway.set()

    writer = threading.Thread(target=send)
    writer.start()
    halfway.wait()
    _delete_dataset(store, events)
    writer.join()
    assert list(events.group_events(GROUP)) == []
    assert refused and refused == list(range(refused[0], 200))  # once gone, every later event is refused
