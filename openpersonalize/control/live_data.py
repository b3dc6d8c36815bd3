"""Live data: what PutEvents, PutItems and PutUsers store, and the rules they are checked by.

Every event or record is validated against its dataset's schema (``properties`` keys are the
camelCase form of the schema's field names: ``numberOfRatings`` -> ``NUMBER_OF_RATINGS``) and
written to the ``EventStore``; a return means the rows are committed. The REST glue that turns
requests into these typed batches lives in ``api.events_routes``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import nesting
from ..data.actions import action_problem
from ..data.schema import ID_MAX_LENGTH, DatasetSchema, FieldSpec
from ..errors import InvalidInputException, ResourceNotFoundException
from ..runtime.cache import Recent
from ..store.events import DatasetGone, EventStore
from . import event_trackers, schemas
from .base import Call, Control
from .kinds import DATASET

TRACKER_TTL_SECONDS = 1.0
MAX_STRING_CHARS = 1000  # Personalize quota: categorical and non-categorical string values
MAX_TEXTUAL_CHARS = 20000
MAX_SENT_AT = 32503680000.0  # year 3000: anything later is almost surely milliseconds
INT_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
# Interactions fields set by the event's own parameters, never through ``properties``.
EVENT_RESERVED = frozenset(
    {
        "USER_ID",
        "ITEM_ID",
        "TIMESTAMP",
        "EVENT_TYPE",
        "EVENT_VALUE",
        "IMPRESSION",
        "RECOMMENDATION_ID",
        "EVENT_ATTRIBUTION_SOURCE",
        "SESSION_ID",
    }
)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# dataset type -> (the request's list member, its id member, the id field, the operation)
RECORD_KINDS = {
    "ITEMS": ("items", "itemId", "ITEM_ID", "PutItems"),
    "USERS": ("users", "userId", "USER_ID", "PutUsers"),
    "ACTIONS": ("actions", "actionId", "ACTION_ID", "PutActions"),
}


@dataclass(frozen=True)
class Event:
    """One PutEvents event as sent (values unchecked: ``LiveData.put_events`` checks them in order)."""

    event_type: str
    item_id: str | None
    properties: str | None = None
    event_value: Any = None
    sent_at: Any = None
    event_id: str | None = None
    recommendation_id: str | None = None
    impression: Sequence[str] | None = None
    attribution_source: str | None = None


@dataclass(frozen=True)
class EventBatch:
    """A PutEvents request: one session's events for a tracker."""

    tracking_id: str
    session_id: str
    user_id: str | None
    events: Sequence[Event]


@dataclass(frozen=True)
class Record:
    """One PutItems / PutUsers record as sent: its id and ``properties`` JSON string."""

    record_id: str | None
    properties: str | None


@dataclass(frozen=True)
class RecordBatch:
    """A PutItems (``dataset_type`` ITEMS) or PutUsers (USERS) request."""

    dataset_arn: str
    dataset_type: str
    records: Sequence[Record]


@dataclass(frozen=True)
class _Target:
    """Where a trackingId's events go (the group and its INTERACTIONS dataset), and the schema they are checked
    against."""

    group_arn: str
    tracking_id: str
    schema: DatasetSchema
    dataset_arn: str


# -- properties ------------------------------------------------------------------------------------
def field_name(key: str) -> str:
    """The schema field name a camelCase ``properties`` key stands for (``numberOfRatings`` -> NUMBER_OF_RATINGS)."""
    return _CAMEL_BOUNDARY.sub("_", key).upper()


def _lookup(schema: DatasetSchema, key: str) -> FieldSpec | None:
    return schema.field(field_name(key)) or schema.field(key)


def _convert(spec: FieldSpec, value: Any, where: str) -> Any:
    """``value`` as the field's type, or InvalidInputException naming ``where``."""
    if value is None:
        if not spec.nullable:
            raise InvalidInputException(f"{where}: field {spec.name} is not nullable.")
        return None
    kind = spec.type
    if kind == "string":
        if not isinstance(value, str):
            raise InvalidInputException(f"{where}: field {spec.name} must be a string, got {value!r}.")
        limit = MAX_TEXTUAL_CHARS if spec.textual else MAX_STRING_CHARS
        if len(value) > limit:
            raise InvalidInputException(f"{where}: field {spec.name} is longer than {limit} characters.")
        return value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise InvalidInputException(f"{where}: field {spec.name} must be a boolean, got {value!r}.")
    if isinstance(value, bool):
        raise InvalidInputException(f"{where}: field {spec.name} must be of type {kind}, got {value!r}.")
    number: float | int
    try:
        if isinstance(value, str):
            number = int(value) if kind in INT_RANGES and re.fullmatch(r"[+-]?\d+", value.strip()) else float(value)
        elif isinstance(value, int | float):
            number = value
        else:
            raise ValueError
    except ValueError:
        raise InvalidInputException(f"{where}: field {spec.name} must be of type {kind}, got {value!r}.") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise InvalidInputException(f"{where}: field {spec.name} must be a finite {kind} value, got {value!r}.")
    if kind in INT_RANGES:
        if isinstance(number, float):
            if not number.is_integer():
                raise InvalidInputException(f"{where}: field {spec.name} must be an integer ({kind}), got {value!r}.")
            number = int(number)
        low, high = INT_RANGES[kind]
        if not low <= number <= high:
            raise InvalidInputException(f"{where}: field {spec.name} is out of range for {kind}: {value!r}.")
        return number
    return float(number)


def parse_properties(
    raw: str | None, schema: DatasetSchema, where: str, reserved: frozenset[str], dataset_label: str
) -> dict[str, Any]:
    """Validate a ``properties`` JSON string against ``schema``; returns values keyed by schema field name.

    Every non-nullable field that is not in ``reserved`` (those come from their own parameters) must be present.
    """
    values: dict[str, Any] = {}
    if raw is not None:
        try:
            data = nesting.loads(raw)
        except ValueError as exc:
            raise InvalidInputException(f"{where} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidInputException(f"{where} must be a JSON object of field values, got {type(data).__name__}.")
        for key, value in data.items():
            spec = _lookup(schema, key)
            name = spec.name.upper() if spec else field_name(key)
            if name in reserved:
                raise InvalidInputException(
                    f"{where}: {key!r} is a reserved field; send it with its own parameter, not in properties."
                )
            if spec is None:
                raise InvalidInputException(
                    f"{where}: {key!r} (field {field_name(key)}) is not a field of the {dataset_label} schema "
                    f"(fields: {', '.join(schema.names)})."
                )
            if spec.name in values:
                raise InvalidInputException(f"{where}: field {spec.name} is given more than once.")
            values[spec.name] = _convert(spec, value, where)
    for spec in schema.fields:
        if spec.name.upper() in reserved or spec.nullable or spec.name in values:
            continue
        raise InvalidInputException(f"{where}: field {spec.name} is required by the {dataset_label} schema.")
    return values


def sent_at(value: Any, where: str) -> float:
    """A timestamp in epoch seconds (number, numeric or ISO string), or InvalidInputException naming ``where``."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            try:
                value = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                raise InvalidInputException(f"{where} must be a timestamp in epoch seconds, got {value!r}.") from None
    if isinstance(value, dt.datetime):
        value = value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputException(f"{where} must be a timestamp in epoch seconds, got {value!r}.")
    if not 0 <= value <= MAX_SENT_AT:
        raise InvalidInputException(
            f"{where} must be a timestamp in epoch seconds (0 to {MAX_SENT_AT:.0f}), got {value}."
        )
    return float(value)


class LiveData:
    """PutEvents / PutItems / PutUsers for one server process, written to its one ``EventStore``."""

    def __init__(self, control: Control) -> None:
        self.control = control
        self.events: EventStore = control.events
        self._lookup = Call(control, "", {})
        self._targets: Recent[_Target] = Recent(TRACKER_TTL_SECONDS)

    def _target(self, tracking_id: str) -> _Target:
        return self._targets.get(tracking_id, lambda: self._read_target(tracking_id))

    def _read_target(self, tracking_id: str) -> _Target:
        tracker = event_trackers.find_by_tracking_id(self._lookup, tracking_id)
        if tracker is None:
            raise ResourceNotFoundException(f"trackingId {tracking_id} does not exist.")
        group_arn = tracker.doc["datasetGroupArn"]
        dataset = event_trackers.interactions_dataset(self._lookup, group_arn)
        if dataset is None:
            raise ResourceNotFoundException(
                f"Dataset group {group_arn} has no INTERACTIONS dataset; create one before sending events."
            )
        schema_res = self.control.store.get(dataset.doc["schemaArn"])
        if schema_res is None:
            raise ResourceNotFoundException(f"Schema {dataset.doc['schemaArn']} does not exist.")
        return _Target(group_arn, tracking_id, schemas.load_schema(schema_res), dataset.arn)

    def forget(self, tracking_id: str) -> None:
        """Drop a deleted tracker from the cache, so PutEvents with it fails at once."""
        self._targets.discard(tracking_id)

    def put_events(self, batch: EventBatch) -> None:
        """Check every event against the tracker's Interactions schema, then store them all (committed)."""
        target = self._target(batch.tracking_id)
        schema = target.schema
        value_field = schema.field("EVENT_VALUE")
        rows = []
        for n, event in enumerate(batch.events, start=1):
            where = f"eventList.{n}"
            if not event.item_id:
                raise InvalidInputException(f"{where}.itemId is required: it is the ITEM_ID of the interaction.")
            value = event.event_value
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise InvalidInputException(f"{where}.eventValue must be a number, got {value!r}.")
            if value is not None and not math.isfinite(value):
                raise InvalidInputException(f"{where}.eventValue must be a finite number, got {value!r}.")
            if value is None and value_field is not None and not value_field.nullable:
                raise InvalidInputException(
                    f"{where}.eventValue is required: the Interactions schema's EVENT_VALUE is not nullable."
                )
            properties = parse_properties(
                event.properties, schema, f"{where}.properties", EVENT_RESERVED, "Interactions"
            )
            rows.append(
                {
                    "dataset_group_arn": target.group_arn,
                    "tracking_id": target.tracking_id,
                    "user_id": batch.user_id,
                    "session_id": batch.session_id,
                    "event_id": event.event_id,
                    "event_type": event.event_type,
                    "event_value": float(value) if value is not None else None,
                    "item_id": event.item_id,
                    "timestamp": sent_at(event.sent_at, f"{where}.sentAt"),
                    "recommendation_id": event.recommendation_id,
                    "impression": event.impression,
                    "properties": properties or None,
                    "attribution_source": event.attribution_source,
                }
            )
        try:
            self.events.append_events(rows, target.dataset_arn)
        except DatasetGone:  # deleted since this node cached the tracker (another node's DeleteDataset)
            self.forget(batch.tracking_id)
            raise ResourceNotFoundException(
                f"trackingId {batch.tracking_id}: its dataset group's INTERACTIONS dataset was deleted."
            ) from None

    def put_records(self, batch: RecordBatch) -> None:
        """Check every record against the ITEMS / USERS dataset's schema, then upsert them all (committed)."""
        kind, arn = batch.dataset_type, batch.dataset_arn
        list_key, id_key, id_field, operation = RECORD_KINDS[kind]
        dataset = self.control.store.get(arn)
        if dataset is None or dataset.kind != DATASET.kind:
            raise ResourceNotFoundException(f"Dataset {arn} does not exist.")
        if dataset.doc.get("datasetType") != kind:
            raise InvalidInputException(
                f"datasetArn {arn} is an {dataset.doc.get('datasetType')} dataset; {operation} needs an {kind} dataset."
            )
        schema_res = self.control.store.get(dataset.doc["schemaArn"])
        if schema_res is None:
            raise ResourceNotFoundException(f"Schema {dataset.doc['schemaArn']} does not exist.")
        schema = schemas.load_schema(schema_res)
        label = kind.capitalize()
        records = []
        for n, record in enumerate(batch.records, start=1):
            where = f"{list_key}.{n}"
            record_id = record.record_id
            if not record_id:
                raise InvalidInputException(f"{where}.{id_key} is required.")
            if len(record_id) > ID_MAX_LENGTH:
                raise InvalidInputException(f"{where}.{id_key} is longer than {ID_MAX_LENGTH} characters.")
            props = parse_properties(record.properties, schema, f"{where}.properties", frozenset({id_field}), label)
            if kind == "ACTIONS" and (problem := action_problem(props)):
                raise InvalidInputException(f"{where}.properties: {problem}")
            records.append((record_id, props))
        self.events.upsert_records(arn, records)
