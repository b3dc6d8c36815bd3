"""Event trackers and the personalize-events API (PutEvents / PutItems / PutUsers) through boto3."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import uuid
from contextlib import contextmanager

import pytest
from botocore.exceptions import ClientError

from helpers import avro_schema, error_code, error_message
from openpersonalize.data import movielens
from openpersonalize.store.events import EventStore
from openpersonalize.store.metadata import MetadataStore
from server_harness import Server, unique, wait_status

INTERACTIONS_SCHEMA = avro_schema(
    "Interactions",
    [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "EVENT_VALUE", "type": ["null", "float"]},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "NUMBER_OF_RATINGS", "type": ["null", "int"]},
        {"name": "DEVICE", "type": ["null", "string"], "categorical": True},
    ],
)
USERS_SCHEMA = avro_schema(
    "Users",
    [
        {"name": "USER_ID", "type": "string"},
        {"name": "AGE", "type": "int"},
        {"name": "MEMBERSHIP", "type": ["null", "string"], "categorical": True},
    ],
)


@contextmanager
def _event_store(server):
    url = server.database_url or f"sqlite:///{server.data_dir.resolve() / 'metadata.db'}"
    store = MetadataStore(url)
    try:
        yield EventStore(store)
    finally:
        store.engine.dispose()


def _dataset(personalize, group: str, kind: str, schema: dict) -> str:
    schema_arn = personalize.create_schema(name=unique(kind.lower()), schema=json.dumps(schema))["schemaArn"]
    return personalize.create_dataset(
        name=unique(kind.lower()), datasetType=kind, datasetGroupArn=group, schemaArn=schema_arn
    )["datasetArn"]


@pytest.fixture(scope="module")
def events(server):
    return server.client("personalize-events")


@pytest.fixture(scope="module")
def tracked(personalize):
    """A dataset group with INTERACTIONS, ITEMS and USERS datasets and an event tracker."""
    group = personalize.create_dataset_group(name=unique("events"))["datasetGroupArn"]
    ints = _dataset(personalize, group, "INTERACTIONS", INTERACTIONS_SCHEMA)
    items = _dataset(personalize, group, "ITEMS", movielens.ITEMS_SCHEMA)
    users = _dataset(personalize, group, "USERS", USERS_SCHEMA)
    tracker = personalize.create_event_tracker(name=unique("tracker"), datasetGroupArn=group)
    return {"group": group, "ints": ints, "items": items, "users": users, **tracker}


def _event(item: str, **extra) -> dict:
    return {"eventType": "click", "itemId": item, "sentAt": 1_700_000_000, **extra}


def test_tracker_lifecycle_and_one_per_group(server, personalize, events):
    group = personalize.create_dataset_group(name=unique("trk"))["datasetGroupArn"]
    ints = _dataset(personalize, group, "INTERACTIONS", INTERACTIONS_SCHEMA)
    created = personalize.create_event_tracker(
        name="my-tracker", datasetGroupArn=group, tags=[{"tagKey": "team", "tagValue": "recs"}]
    )
    arn, tracking_id = created["eventTrackerArn"], created["trackingId"]
    assert re.fullmatch(r"arn:aws:personalize:eu-west-3:000000000000:event-tracker/[0-9a-f]{8}", arn)
    assert str(uuid.UUID(tracking_id)) == tracking_id

    tracker = personalize.describe_event_tracker(eventTrackerArn=arn)["eventTracker"]
    assert tracker["name"] == "my-tracker"
    assert tracker["trackingId"] == tracking_id
    assert tracker["datasetGroupArn"] == group
    assert tracker["accountId"] == "000000000000"
    assert tracker["status"] == "ACTIVE"
    assert tracker["creationDateTime"] and tracker["lastUpdatedDateTime"]
    assert personalize.describe_dataset(datasetArn=ints)["dataset"]["trackingId"] == tracking_id
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == [{"tagKey": "team", "tagValue": "recs"}]

    listed = personalize.list_event_trackers(datasetGroupArn=group)["eventTrackers"]
    assert [t["eventTrackerArn"] for t in listed] == [arn]
    assert arn in {t["eventTrackerArn"] for t in personalize.list_event_trackers()["eventTrackers"]}

    with pytest.raises(ClientError) as exc:
        personalize.create_event_tracker(name="second", datasetGroupArn=group)
    assert error_code(exc) == "ResourceAlreadyExistsException"
    assert "only one event tracker" in error_message(exc)

    with pytest.raises(ClientError) as exc:
        personalize.delete_dataset_group(datasetGroupArn=group)
    assert error_code(exc) == "ResourceInUseException"

    personalize.delete_event_tracker(eventTrackerArn=arn)
    with pytest.raises(ClientError) as exc:
        personalize.describe_event_tracker(eventTrackerArn=arn)
    assert error_code(exc) == "ResourceNotFoundException"
    assert "trackingId" not in personalize.describe_dataset(datasetArn=ints)["dataset"]
    with pytest.raises(ClientError) as exc:
        events.put_events(trackingId=tracking_id, sessionId="s", eventList=[_event("i1")])
    assert error_code(exc) == "ResourceNotFoundException"

    again = personalize.create_event_tracker(name="again", datasetGroupArn=group)
    assert again["trackingId"] != tracking_id

    with pytest.raises(ClientError) as exc:
        personalize.create_event_tracker(name="x", datasetGroupArn=group + "-missing")
    assert error_code(exc) == "ResourceNotFoundException"


def test_list_event_trackers_pages(personalize):
    groups = [personalize.create_dataset_group(name=unique("page"))["datasetGroupArn"] for _ in range(3)]
    arns = {personalize.create_event_tracker(name=unique("t"), datasetGroupArn=g)["eventTrackerArn"] for g in groups}
    seen: set[str] = set()
    token = None
    while True:
        kwargs = {"maxResults": 2, **({"nextToken": token} if token else {})}
        page = personalize.list_event_trackers(**kwargs)
        assert len(page["eventTrackers"]) <= 2
        seen |= {t["eventTrackerArn"] for t in page["eventTrackers"]}
        token = page.get("nextToken")
        if not token:
            break
    assert arns <= seen


def test_put_events_stored(server, events, tracked):
    session = unique("sess")
    events.put_events(
        trackingId=tracked["trackingId"],
        userId="user-1",
        sessionId=session,
        eventList=[
            _event("item-1", eventValue=4.5, properties=json.dumps({"numberOfRatings": "12", "device": "ios"})),
            {
                "eventType": "watch",
                "itemId": "item-2",
                "sentAt": 1_700_000_100.25,
                "eventId": "ev-2",
                "recommendationId": "rec-1",
                "impression": ["item-2", "item-3"],
                "metricAttribution": {"eventAttributionSource": "email"},
            },
        ],
    )
    with _event_store(server) as store:
        rows = store.session_events(tracked["group"], session)
        assert [(r.user_id, r.item_id, r.event_type) for r in rows] == [
            ("user-1", "item-1", "click"),
            ("user-1", "item-2", "watch"),
        ]
        first, second = rows
        assert first.event_value == 4.5 and first.timestamp == 1_700_000_000
        assert first.properties == {"NUMBER_OF_RATINGS": 12, "DEVICE": "ios"}
        assert int(second.timestamp) == 1_700_000_100 and second.event_id == "ev-2"
        assert second.recommendation_id == "rec-1" and second.impression == ["item-2", "item-3"]
        assert second.attribution_source == "email"
        assert [r.id for r in store.user_events(tracked["group"], "user-1")][-2:] == [first.id, second.id]
        assert store.user_events(tracked["group"], "user-1", since_id=first.id)[-1].id == second.id
        assert store.max_event_id(tracked["group"]) >= second.id
        assert [r.id for r in store.events_since(tracked["group"], first.id - 1)][:2] == [first.id, second.id]
        table = store.all_events(tracked["group"])
        assert table.column_names == ["USER_ID", "ITEM_ID", "EVENT_TYPE", "EVENT_VALUE", "TIMESTAMP"]
        assert str(table.schema.field("TIMESTAMP").type) == "int64"
        assert {"user_id": "user-1", "item": "item-2", "ts": 1_700_000_100} in [
            {"user_id": u, "item": i, "ts": t}
            for u, i, t in zip(
                table.column("USER_ID").to_pylist(),
                table.column("ITEM_ID").to_pylist(),
                table.column("TIMESTAMP").to_pylist(),
                strict=True,
            )
        ]


def test_anonymous_session_joins_user_on_login(server, events, tracked):
    session = unique("anon")
    tid = tracked["trackingId"]
    events.put_events(trackingId=tid, sessionId=session, eventList=[_event("a1"), _event("a2")])
    with _event_store(server) as store:
        assert [r.user_id for r in store.session_events(tracked["group"], session)] == [None, None]
        assert "anon-user" not in store.all_events(tracked["group"]).column("USER_ID").to_pylist()
    events.put_events(trackingId=tid, userId="anon-user", sessionId=session, eventList=[_event("a3")])
    with _event_store(server) as store:
        rows = store.user_events(tracked["group"], "anon-user")
        assert [r.item_id for r in rows] == ["a1", "a2", "a3"]
        assert {r.session_id for r in rows} == {session}


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"properties": "{not json"}, "eventList.1.properties"),
        ({"properties": '["a"]'}, "eventList.1.properties"),
        ({"properties": json.dumps({"colour": "red"})}, "COLOUR"),
        ({"properties": json.dumps({"numberOfRatings": "many"})}, "NUMBER_OF_RATINGS"),
        ({"properties": json.dumps({"numberOfRatings": 1.5})}, "NUMBER_OF_RATINGS"),
        ({"properties": json.dumps({"device": 7})}, "DEVICE"),
        ({"properties": json.dumps({"userId": "u"})}, "reserved"),
        ({"properties": json.dumps({"timestamp": 5})}, "reserved"),
        ({"itemId": None}, "eventList.1.itemId"),
        ({"sentAt": dt.datetime(3500, 1, 1, tzinfo=dt.UTC)}, "eventList.1.sentAt"),
    ],
)
def test_put_events_rejects_bad_events(events, tracked, event, field):
    body = {**_event("ok"), **event}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(ClientError) as exc:
        events.put_events(trackingId=tracked["trackingId"], sessionId="s", eventList=[_event("fine"), body])
    assert error_code(exc) == "InvalidInputException"
    assert field.replace("eventList.1", "eventList.2") in error_message(exc)


def test_rejected_request_stores_nothing(server, events, tracked):
    session = unique("atomic")
    with pytest.raises(ClientError):
        events.put_events(
            trackingId=tracked["trackingId"],
            sessionId=session,
            eventList=[_event("x1"), _event("x2", properties="{")],
        )
    with _event_store(server) as store:
        assert store.session_events(tracked["group"], session) == []


def test_unknown_tracking_id(events):
    with pytest.raises(ClientError) as exc:
        events.put_events(trackingId=str(uuid.uuid4()), sessionId="s", eventList=[_event("i")])
    assert error_code(exc) == "ResourceNotFoundException"
    assert "trackingId" in error_message(exc)


def test_event_list_limits_checked(events, tracked):
    with pytest.raises(ClientError) as exc:
        events.put_events(
            trackingId=tracked["trackingId"], sessionId="s", eventList=[_event(f"i{n}") for n in range(11)]
        )
    assert error_code(exc) == "InvalidInputException"  # PutEvents' one documented error
    assert "eventList" in error_message(exc)


def test_put_items_and_users(server, events, tracked):
    events.put_items(
        datasetArn=tracked["items"],
        items=[
            {"itemId": "m1", "properties": json.dumps({"genre": "Comedy|Drama", "year": "1999"})},
            {"itemId": "m2", "properties": json.dumps({"genre": "Horror"})},
        ],
    )
    events.put_items(datasetArn=tracked["items"], items=[{"itemId": "m1", "properties": '{"genre": "Action"}'}])
    events.put_users(
        datasetArn=tracked["users"],
        users=[{"userId": "u1", "properties": json.dumps({"age": 31, "membership": "gold"})}],
    )
    with _event_store(server) as store:
        items = {r["id"]: r["properties"] for r in store.records(tracked["items"])}
        assert items["m1"] == {"GENRE": "Action"}  # replaced, not merged
        assert items["m2"] == {"GENRE": "Horror"}
        assert store.records(tracked["users"])[0]["properties"] == {"AGE": 31, "MEMBERSHIP": "gold"}


@pytest.mark.parametrize(
    ("op", "kwargs", "code", "text"),
    [
        ("put_items", {"items": [{"itemId": "m", "properties": '{"colour": "red", "genre": "x"}'}]}, "Inv", "COLOUR"),
        ("put_items", {"items": [{"itemId": "m", "properties": '{"genre": "x", "year": "old"}'}]}, "Inv", "YEAR"),
        ("put_items", {"items": [{"itemId": "m", "properties": '{"year": 2000}'}]}, "Inv", "GENRE"),
        ("put_items", {"items": [{"itemId": "m", "properties": "nope"}]}, "Inv", "items.1.properties"),
        ("put_items", {"items": [{"itemId": "m", "properties": '{"itemId": "z", "genre": "x"}'}]}, "Inv", "reserved"),
        ("put_users", {"users": [{"userId": "u", "properties": '{"age": "x"}'}]}, "Inv", "AGE"),
        ("put_users", {"users": [{"userId": "u", "properties": '{"membership": "g"}'}]}, "Inv", "AGE"),
    ],
)
def test_put_records_validation(events, tracked, op, kwargs, code, text):
    dataset = tracked["items"] if op == "put_items" else tracked["users"]
    with pytest.raises(ClientError) as exc:
        getattr(events, op)(datasetArn=dataset, **kwargs)
    assert error_code(exc) == "InvalidInputException"
    assert text in error_message(exc)


def test_put_records_wrong_or_missing_dataset(events, tracked):
    with pytest.raises(ClientError) as exc:
        events.put_items(datasetArn=tracked["users"], items=[{"itemId": "m"}])
    assert error_code(exc) == "InvalidInputException" and "ITEMS" in error_message(exc)
    with pytest.raises(ClientError) as exc:
        events.put_users(datasetArn=tracked["ints"], users=[{"userId": "u"}])
    assert error_code(exc) == "InvalidInputException"
    with pytest.raises(ClientError) as exc:
        events.put_items(datasetArn=tracked["items"] + "x", items=[{"itemId": "m"}])
    assert error_code(exc) == "ResourceNotFoundException"


def test_acknowledged_events_survive_sigkill(tmp_path):
    """Every PutEvents that got a 200 is stored exactly once after a crash; nothing is duplicated."""
    server = Server(tmp_path / "data", None, []).start()
    try:
        personalize = server.client()
        group = personalize.create_dataset_group(name=unique("crash"))["datasetGroupArn"]
        _dataset(personalize, group, "INTERACTIONS", INTERACTIONS_SCHEMA)
        tracking_id = personalize.create_event_tracker(name="t", datasetGroupArn=group)["trackingId"]
        client = server.client("personalize-events")
        acked: list[str] = []
        errors: list[Exception] = []

        def stream() -> None:
            for call in range(300):
                batch = [f"item-{call * 10 + n}" for n in range(10)]
                try:
                    client.put_events(
                        trackingId=tracking_id,
                        userId=f"user-{call % 7}",
                        sessionId=f"session-{call % 7}",
                        eventList=[_event(item) for item in batch],
                    )
                except Exception as exc:  # the kill: connection reset / refused
                    errors.append(exc)
                    return
                acked.extend(batch)

        thread = threading.Thread(target=stream)
        thread.start()
        deadline = time.time() + 60
        while len(acked) < 500 and thread.is_alive() and time.time() < deadline:
            time.sleep(0.005)
        server.kill()
        thread.join(60)
        assert errors, "the stream finished before the kill; the test proves nothing"
        assert 500 <= len(acked) < 3000

        server.start()
        with _event_store(server) as store:
            items = [r.item_id for r in store.events_since(group, 0)]
        assert len(items) == len(set(items)), "duplicated events"
        missing = set(acked) - set(items)
        assert not missing, f"{len(missing)} acknowledged events lost"
        assert len(items) <= len(acked) + 10 * 256  # at most the in-flight requests beyond the acknowledged
        assert server.client("personalize").describe_event_tracker  # server is back
    finally:
        server.stop()


def _put_export(server, personalize, dataset: str) -> list[dict]:
    import csv

    dst = server.work / unique("put-export")
    arn = personalize.create_dataset_export_job(
        jobName=unique("exp"),
        datasetArn=dataset,
        ingestionMode="PUT",
        roleArn="arn:aws:iam::000000000000:role/test",
        jobOutput={"s3DataDestination": {"path": str(dst)}},
    )["datasetExportJobArn"]
    job = wait_status(personalize.describe_dataset_export_job, "datasetExportJob", datasetExportJobArn=arn)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    (path,) = (dst / job["jobName"]).glob("*.csv")
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_live_data_exported_then_deleted(server, personalize, events, tracked):
    """PUT exports hold what PutEvents / PutUsers stored; a data deletion job removes it, sessions included."""
    tid, user = tracked["trackingId"], unique("gone")
    session = unique("sess")
    events.put_events(trackingId=tid, sessionId=session, eventList=[_event("d1")])
    events.put_events(
        trackingId=tid,
        userId=user,
        sessionId=session,
        eventList=[_event("d2", properties=json.dumps({"device": "tv"}))],
    )
    events.put_users(datasetArn=tracked["users"], users=[{"userId": user, "properties": '{"age": 40}'}])
    rows = _put_export(server, personalize, tracked["ints"])
    assert list(rows[0]) == [f["name"] for f in INTERACTIONS_SCHEMA["fields"]]
    mine = [r for r in rows if r["USER_ID"] == user]
    assert [(r["ITEM_ID"], r["DEVICE"]) for r in mine] == [("d1", ""), ("d2", "tv")]
    assert any(r["USER_ID"] == user and r["AGE"] == "40" for r in _put_export(server, personalize, tracked["users"]))
    with _event_store(server) as store:
        version = store.live_version(tracked["users"])
        assert [e[0] for e in store.item_history(tracked["group"], user, None, 10)] == ["d1", "d2"]

    ids = server.work / (unique("delete") + ".csv")
    ids.write_text(f"USER_ID\n{user}\n")
    arn = personalize.create_data_deletion_job(
        jobName=unique("del"),
        datasetGroupArn=tracked["group"],
        roleArn="arn:aws:iam::000000000000:role/test",
        dataSource={"dataLocation": str(ids)},
    )["dataDeletionJobArn"]
    done = wait_status(personalize.describe_data_deletion_job, "dataDeletionJob", dataDeletionJobArn=arn)
    assert done["status"] == "COMPLETED", done.get("failureReason")
    assert done["numDeleted"] == 2
    with _event_store(server) as store:
        assert store.item_history(tracked["group"], user, session, 10) == []
        assert store.record(tracked["users"], user) is None
        assert store.live_version(tracked["users"]) > version
    assert not any(r["USER_ID"] == user for r in _put_export(server, personalize, tracked["ints"]))
