"""Live data (PutEvents events, PutItems/PutUsers records) lives and dies with its dataset."""

from __future__ import annotations

import json

from openpersonalize.data import movielens
from openpersonalize.store.events import EventStore
from openpersonalize.store.metadata import MetadataStore
from server_harness import unique


def _group_with_live_data(personalize, events, name: str, schemas: dict[str, str]) -> dict[str, str]:
    group = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    arns = {"group": group}
    for kind in ("INTERACTIONS", "ITEMS"):
        arns[kind] = personalize.create_dataset(
            name=unique(kind.lower()), datasetType=kind, datasetGroupArn=group, schemaArn=schemas[kind]
        )["datasetArn"]
    tracker = personalize.create_event_tracker(name=unique("tracker"), datasetGroupArn=group)
    arns["tracker"] = tracker["eventTrackerArn"]
    events.put_events(
        trackingId=tracker["trackingId"],
        userId="u1",
        sessionId="s1",
        eventList=[{"eventType": "click", "itemId": "m1", "sentAt": 1_700_000_000}],
    )
    events.put_items(datasetArn=arns["ITEMS"], items=[{"itemId": "m1", "properties": '{"genre": "Comedy"}'}])
    return arns


def test_a_group_recreated_under_its_name_starts_empty(server, personalize):
    """Deleting the datasets drops their live data: the same names (so the same ARNs) start with none."""
    events = server.client("personalize-events")
    schemas = {
        kind: personalize.create_schema(name=unique(kind.lower()), schema=json.dumps(schema))["schemaArn"]
        for kind, schema in (("INTERACTIONS", movielens.INTERACTIONS_SCHEMA), ("ITEMS", movielens.ITEMS_SCHEMA))
    }
    name = unique("recreated")
    first = _group_with_live_data(personalize, events, name, schemas)
    store = MetadataStore(server.database_url or f"sqlite:///{server.data_dir.resolve() / 'metadata.db'}")
    try:
        live = EventStore(store)
        assert [e.item_id for e in live.user_events(first["group"], "u1")] == ["m1"]
        assert [r["id"] for r in live.records(first["ITEMS"])] == ["m1"]

        personalize.delete_event_tracker(eventTrackerArn=first["tracker"])
        for kind in ("INTERACTIONS", "ITEMS"):
            personalize.delete_dataset(datasetArn=first[kind])
        personalize.delete_dataset_group(datasetGroupArn=first["group"])
        assert live.user_events(first["group"], "u1") == [] and live.records(first["ITEMS"]) == []

        group = personalize.create_dataset_group(name=name)["datasetGroupArn"]
        assert group == first["group"]
        assert live.user_events(group, "u1") == [] and live.max_event_id(group) == 0
    finally:
        store.engine.dispose()
