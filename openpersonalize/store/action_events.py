"""Live action interactions in SQL: what PutActionInteractions stores, for Next-Best-Action.

Shares the metadata store's engine (SQLite or PostgreSQL) with ``EventStore``, which owns one
``ActionEventStore``. Item interactions and action interactions never mix: filters, item
histories, exports and training of the item recipes read ``live_events`` only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .metadata import writing

_meta = sa.MetaData()
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

live_action_events = sa.Table(
    "live_action_events",
    _meta,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("dataset_group_arn", sa.String(512), nullable=False),
    sa.Column("user_id", sa.String(256)),
    sa.Column("session_id", sa.String(256), nullable=False),
    sa.Column("event_id", sa.String(256)),
    sa.Column("event_type", sa.String(256), nullable=False),
    sa.Column("action_id", sa.String(256), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("recommendation_id", sa.String(256)),
    sa.Column("impression", sa.Text),
    sa.Column("properties", sa.Text),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Index("ix_live_action_events_group_user", "dataset_group_arn", "user_id", "id"),
    sa.Index("ix_live_action_events_group_session", "dataset_group_arn", "session_id", "user_id", "id"),
    sqlite_autoincrement=True,
)

ACTION_EVENT_FIELDS = (
    "dataset_group_arn",
    "user_id",
    "session_id",
    "event_id",
    "event_type",
    "action_id",
    "timestamp",
    "recommendation_id",
    "impression",
    "properties",
)
TABLE_SCHEMA = pa.schema(
    [
        pa.field("USER_ID", pa.string()),
        pa.field("ACTION_ID", pa.string(), nullable=False),
        pa.field("EVENT_TYPE", pa.string(), nullable=False),
        pa.field("TIMESTAMP", pa.int64(), nullable=False),
    ]
)


# One SELECT with ``?`` placeholders on the runtime's fast per-thread connection (``EventStore``'s).
RawRows = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


class ActionEventStore:
    """Action interactions of every dataset group; writes are committed before they return."""

    def __init__(self, engine: Engine, writer: Engine, raw_rows: RawRows) -> None:
        self.engine, self._writer, self._rows = engine, writer, raw_rows
        _meta.create_all(writer)

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Store action interactions (keys of ``ACTION_EVENT_FIELDS``) in one transaction.

        A row with both a user and a session gives that user the session's earlier anonymous ones.
        """
        if not rows:
            return
        received = time.time()
        values = []
        for row in rows:
            value = {name: row.get(name) for name in ACTION_EVENT_FIELDS}
            value["impression"] = json.dumps(list(value["impression"])) if value["impression"] else None
            value["properties"] = json.dumps(value["properties"]) if value["properties"] else None
            values.append({**value, "received_at": received})
        c = live_action_events.c
        joins = {(v["dataset_group_arn"], v["session_id"], v["user_id"]) for v in values if v["user_id"]}
        with self._writer.begin() as conn:
            conn.execute(live_action_events.insert(), values)
            for group_arn, session_id, user_id in sorted(joins):
                conn.execute(
                    live_action_events.update()
                    .where(c.dataset_group_arn == group_arn, c.session_id == session_id, c.user_id.is_(None))
                    .values(user_id=user_id)
                )

    def user_history(self, dataset_group_arn: str, user_id: str, limit: int) -> list[tuple[str, float, str]]:
        """(action id, timestamp, event type) of the user's newest ``limit`` action interactions, oldest first
        (a session no user claimed counts for its id, as anonymous users ask with their sessionId). Each
        SELECT walks its index backwards and stops after ``limit`` rows: a request's cost stays bounded."""
        found: list[tuple[str, float, str]] = []
        for where in ("user_id = ?", "session_id = ? AND user_id IS NULL"):
            rows = self._rows(
                "SELECT action_id, timestamp, event_type FROM live_action_events"
                f" WHERE dataset_group_arn = ? AND {where} ORDER BY id DESC LIMIT ?",
                (dataset_group_arn, user_id, limit),
            )
            found += [(str(a), float(t), str(e)) for a, t, e in rows[::-1]]
        return found

    def table(self, dataset_group_arn: str) -> pa.Table:
        """The group's claimed action interactions as a training table (a repeated ``eventId`` counts once)."""
        c = live_action_events.c
        query = (
            sa.select(c.user_id, c.action_id, c.event_type, c.timestamp, c.event_id)
            .where(c.dataset_group_arn == dataset_group_arn, c.user_id.is_not(None))
            .order_by(c.id)
        )
        cols: dict[str, list[Any]] = {name: [] for name in TABLE_SCHEMA.names}
        seen: set[str] = set()
        with self.engine.connect() as conn:
            for user_id, action_id, event_type, stamp, event_id in conn.execute(query):
                if event_id is not None:
                    if event_id in seen:
                        continue
                    seen.add(event_id)
                for name, value in zip(TABLE_SCHEMA.names, (user_id, action_id, event_type, int(stamp)), strict=True):
                    cols[name].append(value)
        return pa.table(cols, schema=TABLE_SCHEMA)

    def forget_group(self, dataset_group_arn: str, within: Connection | None = None) -> None:
        """Drop a deleted ACTION_INTERACTIONS dataset's live rows (a re-created one starts empty), in the transaction
        ``within`` when given."""
        with writing(self._writer, within) as conn:
            conn.execute(live_action_events.delete().where(live_action_events.c.dataset_group_arn == dataset_group_arn))

    def delete_users(self, dataset_group_arn: str, user_ids: Sequence[str]) -> int:
        """Remove users' action interactions (a data deletion job); rows removed."""
        c, removed = live_action_events.c, 0
        with self._writer.begin() as conn:
            for start in range(0, len(user_ids), 500):
                chunk = list(user_ids[start : start + 500])
                removed += conn.execute(
                    live_action_events.delete().where(c.dataset_group_arn == dataset_group_arn, c.user_id.in_(chunk))
                ).rowcount
        return removed
