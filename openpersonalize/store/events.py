"""Live data in SQL: interactions from PutEvents, item/user records from PutItems/PutUsers.

Shares the metadata store's engine (SQLite WAL or PostgreSQL). Writes are durable
before they return: ``append_events`` hands its rows to a group committer that folds
concurrent callers into one transaction (one fsync for many requests) and wakes each
caller only after that transaction committed.

Event ids are increasing in commit order (SQLite serialises writers; PostgreSQL takes a
transaction-level advisory lock around the insert), so ``events_since`` is a safe tail.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .action_events import ActionEventStore
from .metadata import MetadataStore, dialect_insert, writing
from .raw_sql import RawReads, RawTransaction, RawWrites

_meta = sa.MetaData()

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite only auto-assigns INTEGER PRIMARY KEY

live_events = sa.Table(
    "live_events",
    _meta,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("dataset_group_arn", sa.String(512), nullable=False),
    sa.Column("tracking_id", sa.String(256), nullable=False),
    sa.Column("user_id", sa.String(256)),
    sa.Column("session_id", sa.String(256), nullable=False),
    sa.Column("event_id", sa.String(256)),
    sa.Column("event_type", sa.String(256), nullable=False),
    sa.Column("event_value", sa.Float),
    sa.Column("item_id", sa.String(256)),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("recommendation_id", sa.String(256)),
    sa.Column("impression", sa.Text),
    sa.Column("properties", sa.Text),
    sa.Column("attribution_source", sa.String(1024)),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Index("ix_live_events_group_user", "dataset_group_arn", "user_id"),
    sa.Index("ix_live_events_group_session", "dataset_group_arn", "session_id", "user_id"),
    sa.Index("ix_live_events_group_id", "dataset_group_arn", "id"),
    sqlite_autoincrement=True,  # never reuse an id, even after deletes
)

live_records = sa.Table(
    "live_records",
    _meta,
    sa.Column("dataset_arn", sa.String(512), primary_key=True),
    sa.Column("record_id", sa.String(256), primary_key=True),
    sa.Column("properties", sa.Text, nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
)

live_versions = sa.Table(
    "live_versions",
    _meta,
    sa.Column("key", sa.String(512), primary_key=True),  # an ITEMS / USERS dataset ARN
    sa.Column("version", sa.BigInteger, nullable=False),
)

EVENT_FIELDS = (
    "dataset_group_arn",
    "tracking_id",
    "user_id",
    "session_id",
    "event_id",
    "event_type",
    "event_value",
    "item_id",
    "timestamp",
    "recommendation_id",
    "impression",
    "properties",
    "attribution_source",
)
# The runtime reads a user's (or a session's) newest events: SQLite's indexes above end in the rowid,
# which is ``id``, so they serve ``ORDER BY id DESC LIMIT n`` as they are; PostgreSQL's need ``id`` spelled out.
_PG_NEWEST_FIRST_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_live_events_group_user_newest ON live_events (dataset_group_arn, user_id, id)",
    "CREATE INDEX IF NOT EXISTS ix_live_events_group_session_newest"
    " ON live_events (dataset_group_arn, session_id, user_id, id)",
)
# item_history's reads, newest first: a user's events, and an unclaimed session's (one index each, above).
_USER_HISTORY = (
    "SELECT item_id, timestamp, event_type FROM live_events"
    " WHERE dataset_group_arn = ? AND user_id = ? AND item_id IS NOT NULL ORDER BY id DESC LIMIT ?"
)
_SESSION_HISTORY = (
    "SELECT item_id, timestamp, event_type FROM live_events WHERE dataset_group_arn = ?"
    " AND session_id = ? AND user_id IS NULL AND item_id IS NOT NULL ORDER BY id DESC LIMIT ?"
)
# A request's whole read of live data in one statement (one round trip to PostgreSQL): the user's newest
# events (part 0), the unclaimed session's (part 1), then the ITEMS live-records version (part 2).
_SERVING_READ = (
    f"SELECT * FROM ({_USER_HISTORY.replace('SELECT ', 'SELECT 0 AS part, id, ', 1)}) AS u"
    f" UNION ALL SELECT * FROM ({_SESSION_HISTORY.replace('SELECT ', 'SELECT 1 AS part, id, ', 1)}) AS s"
    " UNION ALL SELECT 2, version, NULL, 0, NULL FROM live_versions WHERE key = ?"
)
_EVENT_COLUMNS = (*EVENT_FIELDS, "received_at")
_INSERT_EVENT = f"INSERT INTO live_events ({', '.join(_EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(_EVENT_COLUMNS))})"
# A user's event gives the user every earlier anonymous event of the same session in the group.
_JOIN_SESSION = "UPDATE live_events SET user_id = ? WHERE dataset_group_arn = ? AND session_id = ? AND user_id IS NULL"
_PG_EVENTS_LOCK = 0x6F70_6576  # advisory lock key: event inserts commit in id order
MAX_GROUP_REQUESTS = 256


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One live interaction as stored (``properties`` keyed by schema field names)."""

    id: int
    dataset_group_arn: str
    user_id: str | None
    session_id: str
    event_id: str | None
    event_type: str
    event_value: float | None
    item_id: str | None
    timestamp: float
    recommendation_id: str | None
    impression: list[str] | None
    properties: dict[str, Any] | None
    attribution_source: str | None
    received_at: float


def _row_to_event(row: Any) -> StoredEvent:
    return StoredEvent(
        id=row.id,
        dataset_group_arn=row.dataset_group_arn,
        user_id=row.user_id,
        session_id=row.session_id,
        event_id=row.event_id,
        event_type=row.event_type,
        event_value=row.event_value,
        item_id=row.item_id,
        timestamp=row.timestamp,
        recommendation_id=row.recommendation_id,
        impression=json.loads(row.impression) if row.impression else None,
        properties=json.loads(row.properties) if row.properties else None,
        attribution_source=row.attribution_source,
        received_at=row.received_at,
    )


def _to_db(row: Mapping[str, Any], received_at: float) -> dict[str, Any]:
    out = {name: row.get(name) for name in EVENT_FIELDS}
    out["impression"] = json.dumps(list(out["impression"])) if out["impression"] else None
    out["properties"] = json.dumps(out["properties"], separators=(",", ":")) if out["properties"] else None
    out["received_at"] = received_at
    return out


class DatasetGone(Exception):
    """The dataset the events were sent for was deleted: they are not stored."""


class _Pending:
    """One caller's rows waiting for the group commit, and the dataset that must still exist when they commit."""

    __slots__ = ("rows", "dataset_arn", "done", "error")

    def __init__(self, rows: list[dict[str, Any]], dataset_arn: str | None) -> None:
        self.rows = rows
        self.dataset_arn = dataset_arn
        self.done = threading.Event()
        self.error: BaseException | None = None


class EventStore:
    """Live events and records; one per process, sharing ``MetadataStore``'s engine."""

    def __init__(self, metadata: MetadataStore) -> None:
        self.engine: Engine = metadata.engine
        self._writer: Engine = metadata.writer
        self._postgres = self.engine.dialect.name == "postgresql"
        _meta.create_all(self._writer)
        if self._postgres:
            with self._writer.begin() as conn:
                for ddl in _PG_NEWEST_FIRST_INDEXES:
                    conn.execute(sa.text(ddl))
        self._raw = RawReads(self.engine)
        self._raw_writes = RawWrites(self.engine)
        self.actions = ActionEventStore(self.engine, self._writer, self._raw.rows)
        self._cond = threading.Condition()
        self._queue: list[_Pending] = []
        self._thread: threading.Thread | None = None

    # -- writes ----------------------------------------------------------
    def append_events(self, rows: Sequence[Mapping[str, Any]], dataset_arn: str | None = None) -> None:
        """Store events durably (committed before return), in one transaction with their session joins.

        Each row has the keys of ``EVENT_FIELDS`` (missing ones are NULL). A row carrying both
        ``user_id`` and ``session_id`` also gives that user every earlier anonymous event
        (``user_id`` NULL) of the same session in the same dataset group. With ``dataset_arn`` (the
        group's INTERACTIONS dataset) they are stored only while that dataset exists, else DatasetGone:
        events sent with a tracker another node still caches never outlive the dataset's purge.
        """
        if not rows:
            return
        pending = _Pending([dict(r) for r in rows], dataset_arn)
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._commit_loop, name="event-group-commit", daemon=True)
                self._thread.start()
            self._queue.append(pending)
            self._cond.notify()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error

    def _commit_loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                group = self._queue[:MAX_GROUP_REQUESTS]
                del self._queue[:MAX_GROUP_REQUESTS]
            try:
                self._commit(group)
            except Exception:
                # One bad request must not fail its neighbours: retry each on its own.
                for pending in group:
                    try:
                        self._commit([pending])
                    except Exception as exc:  # reported to that caller
                        pending.error = exc
            for pending in group:
                pending.done.set()

    def _commit(self, group: list[_Pending]) -> None:
        received = time.time()
        with self._raw_writes.transaction() as sql:
            if self._postgres:
                sql.execute("SELECT pg_advisory_xact_lock(CAST(? AS BIGINT))", (_PG_EVENTS_LOCK,))
            kept = self._while_datasets_exist(sql, group)
            values = [_to_db(row, received) for pending in kept for row in pending.rows]
            if not values:
                return
            joins = {
                (v["dataset_group_arn"], v["session_id"], v["user_id"])
                for v in values
                if v["user_id"] and v["session_id"]
            }
            sql.executemany(_INSERT_EVENT, [[v[name] for name in _EVENT_COLUMNS] for v in values])
            for group_arn, session_id, user_id in sorted(joins):
                sql.execute(_JOIN_SESSION, (user_id, group_arn, session_id))

    def _while_datasets_exist(self, sql: RawTransaction, group: list[_Pending]) -> list[_Pending]:
        """The callers whose dataset still exists; the others get DatasetGone.

        The datasets' rows are read FOR SHARE in the commit's transaction (SQLite: its writers take turns
        anyway), so a DeleteDataset either commits first, and these events are refused, or waits for this
        commit, and its purge of the group's events comes after them.
        """
        arns = sorted({p.dataset_arn for p in group if p.dataset_arn is not None})
        alive: set[str] = set()
        if arns:
            share = " FOR SHARE" if self._postgres else ""
            query = f"SELECT arn FROM resources WHERE arn IN ({', '.join('?' * len(arns))}){share}"
            alive = {arn for (arn,) in sql.execute(query, arns)}
        kept = []
        for pending in group:
            if pending.dataset_arn is None or pending.dataset_arn in alive:
                kept.append(pending)
            else:
                pending.error = DatasetGone(pending.dataset_arn)
        return kept

    def upsert_records(self, dataset_arn: str, records: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Insert or replace (record id, properties) pairs of an ITEMS/USERS dataset; committed on return."""
        latest: dict[str, str] = {}
        for record_id, properties in records:
            latest[record_id] = json.dumps(dict(properties), separators=(",", ":"))
        if not latest:
            return
        now = time.time()
        values = [
            {"dataset_arn": dataset_arn, "record_id": rid, "properties": props, "received_at": now}
            for rid, props in latest.items()
        ]
        stmt = dialect_insert(self._writer, live_records)
        stmt = stmt.on_conflict_do_update(
            index_elements=[live_records.c.dataset_arn, live_records.c.record_id],
            set_={"properties": stmt.excluded.properties, "received_at": stmt.excluded.received_at},
        )
        with self._writer.begin() as conn:
            conn.execute(stmt, values)
            self._bump(conn, dataset_arn)

    def _bump(self, conn: Connection, key: str) -> None:
        """Advance ``key``'s live version inside the caller's write transaction."""
        stmt = dialect_insert(self._writer, live_versions).values(key=key, version=1)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[live_versions.c.key], set_={"version": live_versions.c.version + 1}
            )
        )

    def delete_users(self, dataset_group_arn: str, user_ids: Sequence[str], users_dataset_arn: str | None) -> int:
        """Remove users' live events and action interactions (claimed sessions included) and PutUsers records;
        events removed."""
        removed = 0
        with self._writer.begin() as conn:
            for start in range(0, len(user_ids), 500):
                chunk = list(user_ids[start : start + 500])
                removed += conn.execute(
                    live_events.delete().where(
                        live_events.c.dataset_group_arn == dataset_group_arn, live_events.c.user_id.in_(chunk)
                    )
                ).rowcount
                if users_dataset_arn:
                    conn.execute(
                        live_records.delete().where(
                            live_records.c.dataset_arn == users_dataset_arn, live_records.c.record_id.in_(chunk)
                        )
                    )
            if users_dataset_arn:
                self._bump(conn, users_dataset_arn)
        return removed + self.actions.delete_users(dataset_group_arn, user_ids)

    def forget_dataset(
        self, dataset_arn: str, dataset_group_arn: str, dataset_type: str, within: Connection | None = None
    ) -> None:
        """Drop the live data a dataset held: an INTERACTIONS dataset's events, an ITEMS/USERS dataset's records.

        Called in the transaction ``within`` that deletes the dataset, so a dataset (or group) re-created under
        the same name, and so the same ARN, starts empty, as it does in Personalize.
        """
        if dataset_type == "ACTION_INTERACTIONS":
            self.actions.forget_group(dataset_group_arn, within)
            return
        with writing(self._writer, within) as conn:
            if dataset_type == "INTERACTIONS":
                conn.execute(live_events.delete().where(live_events.c.dataset_group_arn == dataset_group_arn))
            else:
                conn.execute(live_records.delete().where(live_records.c.dataset_arn == dataset_arn))
                self._bump(conn, dataset_arn)

    # -- reads -----------------------------------------------------------
    def _events(self, *where: Any, limit: int | None = None) -> list[StoredEvent]:
        query = sa.select(live_events).where(*where).order_by(live_events.c.id)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_row_to_event(row) for row in conn.execute(query)]

    def user_events(self, dataset_group_arn: str, user_id: str, since_id: int = 0) -> list[StoredEvent]:
        """A user's events (joined anonymous sessions included) with id > ``since_id``, oldest first."""
        return self._events(
            live_events.c.dataset_group_arn == dataset_group_arn,
            live_events.c.user_id == user_id,
            live_events.c.id > since_id,
        )

    def session_events(self, dataset_group_arn: str, session_id: str) -> list[StoredEvent]:
        """Every event of a session (anonymous or not), oldest first."""
        return self._events(
            live_events.c.dataset_group_arn == dataset_group_arn, live_events.c.session_id == session_id
        )

    def events_since(self, dataset_group_arn: str, after_id: int, limit: int | None = None) -> list[StoredEvent]:
        """The group's events with id > ``after_id`` in id (= commit) order: the tail for caches."""
        return self._events(
            live_events.c.dataset_group_arn == dataset_group_arn, live_events.c.id > after_id, limit=limit
        )

    def newest_events(self, dataset_group_arn: str, limit: int) -> list[StoredEvent]:
        """The group's ``limit`` newest events, newest first (the console's live tail; an index scan backward)."""
        c = live_events.c
        query = sa.select(live_events).where(c.dataset_group_arn == dataset_group_arn).order_by(c.id.desc())
        with self.engine.connect() as conn:
            return [_row_to_event(row) for row in conn.execute(query.limit(limit))]

    def group_events(self, dataset_group_arn: str) -> Iterator[StoredEvent]:
        """Every event of the group by id, streamed (dataset export)."""
        query = sa.select(live_events).where(live_events.c.dataset_group_arn == dataset_group_arn)
        with self.engine.connect() as conn:
            for row in conn.execute(query.order_by(live_events.c.id)).yield_per(10_000):
                yield _row_to_event(row)

    def item_events(self, dataset_group_arn: str) -> Iterable[tuple[str | None, str, str, float, str]]:
        """(user_id, session_id, item_id, timestamp, event_type) of the group's events with an item, by id.

        A lean bulk read (no JSON columns) for batch jobs, which index every user's events at once.
        """
        c = live_events.c
        query = (
            sa.select(c.user_id, c.session_id, c.item_id, c.timestamp, c.event_type)
            .where(c.dataset_group_arn == dataset_group_arn, c.item_id.is_not(None))
            .order_by(c.id)
        )
        with self.engine.connect() as conn:
            for row in conn.execute(query).yield_per(10_000):
                yield row.user_id, row.session_id, row.item_id, row.timestamp, row.event_type

    def max_event_id(self, dataset_group_arn: str) -> int:
        """The newest event id of the group (0 when it has none)."""
        query = sa.select(sa.func.max(live_events.c.id)).where(live_events.c.dataset_group_arn == dataset_group_arn)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar() or 0

    def all_events(self, dataset_group_arn: str, include_anonymous: bool = False) -> pa.Table:
        """The group's events as an interactions table for training.

        Columns USER_ID, ITEM_ID, EVENT_TYPE (strings), EVENT_VALUE (float64, nullable),
        TIMESTAMP (int64 seconds). Events without an item, and (unless ``include_anonymous``)
        events of sessions no user has claimed, are left out; a repeated ``eventId`` counts once.
        """
        c = live_events.c
        query = (
            sa.select(c.user_id, c.item_id, c.event_type, c.event_value, c.timestamp, c.event_id)
            .where(c.dataset_group_arn == dataset_group_arn, c.item_id.is_not(None))
            .order_by(c.id)
        )
        if not include_anonymous:
            query = query.where(c.user_id.is_not(None))
        cols: dict[str, list[Any]] = {k: [] for k in ("USER_ID", "ITEM_ID", "EVENT_TYPE", "EVENT_VALUE", "TIMESTAMP")}
        seen: set[str] = set()
        with self.engine.connect() as conn:
            for user_id, item_id, event_type, event_value, timestamp, event_id in conn.execute(query):
                if event_id is not None:
                    if event_id in seen:
                        continue
                    seen.add(event_id)
                cols["USER_ID"].append(user_id)
                cols["ITEM_ID"].append(item_id)
                cols["EVENT_TYPE"].append(event_type)
                cols["EVENT_VALUE"].append(event_value)
                cols["TIMESTAMP"].append(int(timestamp))
        schema = pa.schema(
            [
                pa.field("USER_ID", pa.string()),
                pa.field("ITEM_ID", pa.string(), nullable=False),
                pa.field("EVENT_TYPE", pa.string(), nullable=False),
                pa.field("EVENT_VALUE", pa.float64()),
                pa.field("TIMESTAMP", pa.int64(), nullable=False),
            ]
        )
        return pa.table(cols, schema=schema)

    def live_version(self, key: str) -> int:
        """A counter that moves whenever the dataset's live records change (0 before the first)."""
        rows = self._raw.rows("SELECT version FROM live_versions WHERE key = ?", (key,))
        return int(rows[0][0]) if rows else 0

    def record(self, dataset_arn: str, record_id: str) -> dict[str, Any] | None:
        """One live record's properties (schema field names), or None."""
        rows = self._raw.rows(
            "SELECT properties FROM live_records WHERE dataset_arn = ? AND record_id = ?", (dataset_arn, record_id)
        )
        return json.loads(rows[0][0]) if rows else None

    def item_history(
        self, dataset_group_arn: str, user_id: str | None, session_id: str | None, limit: int
    ) -> list[tuple[str, float, str]]:
        """(item id, timestamp, event type) of a user's newest ``limit`` events, then of the unclaimed
        session's newest ``limit``, each oldest first.

        The runtime's per-request read: anonymous users ask with their sessionId as userId, so a
        session no user has claimed yet counts for ``session_id or user_id``. Each SELECT walks its
        index (group, user or session, then id) backwards and stops after ``limit`` rows, so its cost
        does not grow with the history.
        """
        found: list[tuple[str, float, str]] = []
        for query, who in ((_USER_HISTORY, user_id), (_SESSION_HISTORY, session_id or user_id)):
            if who:
                found += self._raw.rows(query, (dataset_group_arn, who, limit))[::-1]
        return found

    def serving_reads(
        self, dataset_group_arn: str, user_id: str | None, limit: int, version_key: str | None
    ) -> tuple[int, list[tuple[str, float, str]]]:
        """``live_version(version_key)`` and ``item_history(dataset_group_arn, user_id, None, limit)`` read by
        one statement: what a runtime request reads of live data, in one round trip and one snapshot."""
        rows = self._raw.rows(
            _SERVING_READ, (dataset_group_arn, user_id, limit, dataset_group_arn, user_id, limit, version_key)
        )
        version = 0
        parts: tuple[list[tuple[int, str, float, str]], ...] = ([], [])
        for part, ident, item_id, stamp, event_type in rows:
            if part == 2:
                version = int(ident)
            else:
                parts[part].append((ident, item_id, stamp, event_type))
        return version, [event[1:] for part in parts for event in sorted(part)]

    def records(self, dataset_arn: str) -> list[dict[str, Any]]:
        """Live records of a dataset, by id: ``{"id", "properties" (schema field names), "received_at"}``."""
        query = (
            sa.select(live_records.c.record_id, live_records.c.properties, live_records.c.received_at)
            .where(live_records.c.dataset_arn == dataset_arn)
            .order_by(live_records.c.record_id)
        )
        with self.engine.connect() as conn:
            return [
                {"id": rid, "properties": json.loads(props), "received_at": received}
                for rid, props, received in conn.execute(query)
            ]
