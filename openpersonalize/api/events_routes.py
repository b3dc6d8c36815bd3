"""personalize-events REST glue: request members in, ``LiveData``'s typed batches out.

The body was validated against botocore's model already; this turns it into
``EventBatch`` / ``RecordBatch`` and answers ``{}`` once ``LiveData`` has committed the rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .. import nesting
from ..control.action_data import ActionData, ActionInteraction
from ..control.live_data import RECORD_KINDS, Event, EventBatch, LiveData, Record, RecordBatch

RestHandler = Callable[[str, dict[str, Any]], dict[str, Any]]


def _item_from_properties(raw: str) -> tuple[str | None, str | None]:
    """The older PutEvents form (the POC notebooks use it) puts ``itemId`` inside ``properties``.

    Returns that item id and the remaining properties; malformed JSON is left for
    ``LiveData`` to report.
    """
    try:
        props = nesting.loads(raw)
    except ValueError:
        return None, raw
    if not isinstance(props, dict):
        return None, raw
    key = next((k for k in props if k.replace("_", "").lower() == "itemid"), None)
    if key is None or not isinstance(props[key], str | int):
        return None, raw
    item = str(props.pop(key))
    return item, (json.dumps(props) if props else None)


def _event(entry: dict[str, Any]) -> Event:
    item_id, properties = entry.get("itemId"), entry.get("properties")
    if not item_id and properties:
        item_id, properties = _item_from_properties(properties)
    return Event(
        event_type=entry["eventType"],
        item_id=item_id,
        properties=properties,
        event_value=entry.get("eventValue"),
        sent_at=entry.get("sentAt"),
        event_id=entry.get("eventId"),
        recommendation_id=entry.get("recommendationId"),
        impression=entry.get("impression"),
        attribution_source=(entry.get("metricAttribution") or {}).get("eventAttributionSource"),
    )


def event_batch(params: dict[str, Any]) -> EventBatch:
    """A PutEvents body as an ``EventBatch``."""
    return EventBatch(
        tracking_id=params["trackingId"],
        session_id=params["sessionId"],
        user_id=params.get("userId") or None,
        events=[_event(entry) for entry in params["eventList"]],
    )


def record_batch(params: dict[str, Any], dataset_type: str) -> RecordBatch:
    """A PutItems (``ITEMS``) or PutUsers (``USERS``) body as a ``RecordBatch``."""
    list_key, id_key, _, _ = RECORD_KINDS[dataset_type]
    records = [Record(r.get(id_key), r.get("properties")) for r in params[list_key]]
    return RecordBatch(params["datasetArn"], dataset_type, records)


def action_interactions(params: dict[str, Any]) -> list[ActionInteraction]:
    """A PutActionInteractions body's entries as ``ActionInteraction``s."""
    return [
        ActionInteraction(
            action_id=entry["actionId"],
            session_id=entry["sessionId"],
            event_type=entry["eventType"],
            timestamp=entry["timestamp"],
            user_id=entry.get("userId") or None,
            event_id=entry.get("eventId"),
            recommendation_id=entry.get("recommendationId"),
            impression=entry.get("impression"),
            properties=entry.get("properties"),
        )
        for entry in params["actionInteractions"]
    ]


def events_routes(live: LiveData) -> dict[str, RestHandler]:
    """The personalize-events operations for PersonalizeApp's ``rest_handlers``."""
    actions = ActionData(live.control)

    def put_events(_region: str, params: dict[str, Any]) -> dict[str, Any]:
        live.put_events(event_batch(params))
        return {}

    def put_items(_region: str, params: dict[str, Any]) -> dict[str, Any]:
        live.put_records(record_batch(params, "ITEMS"))
        return {}

    def put_users(_region: str, params: dict[str, Any]) -> dict[str, Any]:
        live.put_records(record_batch(params, "USERS"))
        return {}

    def put_actions(_region: str, params: dict[str, Any]) -> dict[str, Any]:
        live.put_records(record_batch(params, "ACTIONS"))
        return {}

    def put_action_interactions(_region: str, params: dict[str, Any]) -> dict[str, Any]:
        actions.put_action_interactions(params["trackingId"], action_interactions(params))
        return {}

    return {
        "PutEvents": put_events,
        "PutItems": put_items,
        "PutUsers": put_users,
        "PutActions": put_actions,
        "PutActionInteractions": put_action_interactions,
    }
