"""Resource metadata, tags and the job queue in SQL (SQLAlchemy Core).

SQLite in WAL mode by default; PostgreSQL by URL runs the same statements.
Every write commits before it returns, so an acknowledged create survives a crash.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

_meta = sa.MetaData()

resources = sa.Table(
    "resources",
    _meta,
    sa.Column("arn", sa.String(512), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("parent", sa.String(512), index=True),
    sa.Column("status", sa.String(32)),
    sa.Column("doc", sa.Text, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
)

tags = sa.Table(
    "tags",
    _meta,
    sa.Column("arn", sa.String(512), primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

jobs = sa.Table(
    "jobs",
    _meta,
    sa.Column("arn", sa.String(512), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(128)),
    sa.Column("heartbeat", sa.Float),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
)


class AlreadyExists(Exception):
    """A resource with that ARN is already stored."""


class ParentGone(Exception):
    """A resource a new one belongs to (or needs) no longer exists; ``arn`` names it."""

    def __init__(self, arn: str) -> None:
        super().__init__(arn)
        self.arn = arn


DeleteGuard = Callable[[list["Resource"]], list["Resource"]]
InsertGuard = Callable[[list["Resource"]], None]


@dataclass
class Resource:
    """One stored resource: indexed columns plus its full description document."""

    arn: str
    kind: str
    name: str
    parent: str | None
    status: str | None
    doc: dict[str, Any]
    created: float = field(default_factory=time.time)
    updated: float = 0.0

    def __post_init__(self) -> None:
        self.updated = self.updated or self.created


def _row_to_resource(row: Any) -> Resource:
    return Resource(row.arn, row.kind, row.name, row.parent, row.status, json.loads(row.doc), row.created, row.updated)


def writing(writer: Engine, within: Connection | None) -> AbstractContextManager[Connection]:
    """The caller's transaction ``within`` (its writes commit with the caller's), else a transaction of its own on
    ``writer`` (the stores sharing the metadata store's writer join its transactions this way)."""
    return nullcontext(within) if within is not None else writer.begin()


def dialect_insert(engine: Engine, table: sa.Table) -> Any:
    """``engine``'s dialect's INSERT into ``table``, which offers ``on_conflict_do_nothing`` and
    ``on_conflict_do_update`` (the stores sharing this engine upsert with it)."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


class MetadataStore:
    """All metadata access goes through here; one instance per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = sa.create_engine(url, **kwargs)
        self._writer: Engine = self.engine
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            sa.event.listen(self.engine, "begin", _sqlite_begin)
            self._writer = self.engine.execution_options(sqlite_write=True)
        _meta.create_all(self._writer)

    @property
    def writer(self) -> Engine:
        """The engine for write transactions (SQLite: BEGIN IMMEDIATE); shared by other stores."""
        return self._writer

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A committed-on-exit write transaction (SQLite: BEGIN IMMEDIATE, so writers never deadlock)."""
        with self._writer.begin() as conn:
            yield conn

    def _writing(self, within: Connection | None) -> AbstractContextManager[Connection]:
        """The caller's transaction ``within``, else a transaction of its own (``writing``)."""
        return writing(self._writer, within)

    def _reading(self, within: Connection | None) -> AbstractContextManager[Connection]:
        """The caller's transaction ``within`` (it sees that transaction's writes), else a connection of its own."""
        return nullcontext(within) if within is not None else self.engine.connect()

    # -- resources -------------------------------------------------------
    def insert(
        self,
        res: Resource,
        job_kind: str | None = None,
        tag_values: Mapping[str, str] | None = None,
        requires: tuple[str, ...] = (),
        guard: InsertGuard | None = None,
    ) -> None:
        """Store a new resource (and queue its job) atomically; AlreadyExists if the ARN is taken.

        Its parent and the ``requires`` ARNs must still exist in the same transaction (ParentGone
        otherwise), and stay locked until it commits: a concurrent ``delete`` of one of them either
        sees the new resource as a dependent or makes this insert fail, never leaves an orphan.
        With ``guard`` the parent is locked exclusively and ``guard(siblings)`` (the parent's children
        of the new resource's kind) may raise to refuse: a check and insert no concurrent insert can split.
        """
        try:
            with self.transaction() as conn:
                for needed in sorted({arn for arn in (res.parent, *requires) if arn}):
                    if not _locked(conn, needed, shared=guard is None or needed != res.parent):
                        raise ParentGone(needed)
                if guard is not None:
                    siblings = conn.execute(
                        sa.select(resources).where(resources.c.parent == res.parent, resources.c.kind == res.kind)
                    )
                    guard([_row_to_resource(row) for row in siblings])
                conn.execute(
                    resources.insert().values(
                        arn=res.arn,
                        kind=res.kind,
                        name=res.name,
                        parent=res.parent,
                        status=res.status,
                        doc=json.dumps(res.doc),
                        created=res.created,
                        updated=res.updated,
                        seq=time.time_ns(),
                    )
                )
                if job_kind:
                    conn.execute(jobs.insert().values(arn=res.arn, kind=job_kind, attempts=0))
                for key, value in (tag_values or {}).items():
                    conn.execute(tags.insert().values(arn=res.arn, key=key, value=value))
        except sa.exc.IntegrityError as exc:
            raise AlreadyExists(res.arn) from exc

    def get(self, arn: str, within: Connection | None = None) -> Resource | None:
        with self._reading(within) as conn:
            row = conn.execute(sa.select(resources).where(resources.c.arn == arn)).first()
        return _row_to_resource(row) if row else None

    def update(
        self,
        arn: str,
        status: str | None = None,
        only_if: tuple[str, ...] | None = None,
        expect: dict[str, Any] | None = None,
        within: Connection | None = None,
        **doc_changes: Any,
    ) -> Resource | None:
        """Merge ``doc_changes`` into the document (and set status); returns the new state.

        With ``only_if``, nothing changes (and None is returned) unless the current status is
        one of those: a status transition that cannot overwrite a concurrent one. ``expect`` is the
        same for document fields (a missing field reads as None): a compare-and-set. ``within``: in
        the caller's transaction, so that several writes are seen together or not at all.
        """
        with self._writing(within) as conn:
            row = conn.execute(sa.select(resources).where(resources.c.arn == arn).with_for_update()).first()
            if row is None or (only_if is not None and row.status not in only_if):
                return None
            res = _row_to_resource(row)
            if any(res.doc.get(key) != value for key, value in (expect or {}).items()):
                return None
            res.doc.update(doc_changes)
            res.updated = time.time()
            if status is not None:
                res.status = status
            conn.execute(
                resources.update()
                .where(resources.c.arn == arn)
                .values(status=res.status, doc=json.dumps(res.doc), updated=res.updated)
            )
        return res

    def delete(
        self,
        arn: str,
        guard: DeleteGuard | None = None,
        referenced_by: tuple[str, str] | None = None,
        also: Callable[[Connection], None] | None = None,
    ) -> list[Resource]:
        """Delete a resource, serialised against inserts of its dependents (see ``insert``).

        In one transaction the row is locked and its dependents read: its descendants (children,
        their children, and so on, each level locked before the next is read, so a dependent created
        under a child meanwhile is seen), plus the resources of kind ``referenced_by[0]`` whose
        document field ``referenced_by[1]`` names it. ``guard(dependents)`` may raise to refuse the
        delete; the dependents it returns are deleted with the resource, and returned. Without a
        guard only the resource itself goes. ``also(conn)`` writes in the same transaction what must go with
        the row (its live data), so a crash cannot leave one without the other.
        """
        with self.transaction() as conn:
            if not _locked(conn, arn, shared=False):
                return []
            doomed: list[Resource] = []
            if guard is not None:
                dependents = _descendants(conn, arn)
                if referenced_by is not None:
                    kind, key = referenced_by
                    rows = conn.execute(sa.select(resources).where(resources.c.kind == kind))
                    dependents += [r for r in map(_row_to_resource, rows) if r.doc.get(key) == arn]
                doomed = guard(dependents)
            gone = [arn, *(d.arn for d in doomed)]
            conn.execute(resources.delete().where(resources.c.arn.in_(gone)))
            conn.execute(tags.delete().where(tags.c.arn.in_(gone)))
            conn.execute(jobs.delete().where(jobs.c.arn.in_(gone)))
            if also is not None:
                also(conn)
        return doomed

    def list(self, kind: str, parent: str | None = None, offset: int = 0, limit: int | None = None) -> list[Resource]:
        """Resources of a kind, newest first, optionally under one parent."""
        query = sa.select(resources).where(resources.c.kind == kind)
        if parent is not None:
            query = query.where(resources.c.parent == parent)
        query = query.order_by(resources.c.seq.desc()).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_row_to_resource(row) for row in conn.execute(query)]

    def children(
        self, parent: str, kinds: tuple[str, ...] | None = None, within: Connection | None = None
    ) -> list[Resource]:
        query = sa.select(resources).where(resources.c.parent == parent)
        if kinds:
            query = query.where(resources.c.kind.in_(kinds))
        with self._reading(within) as conn:
            return [_row_to_resource(row) for row in conn.execute(query)]

    def find(self, kind: str, **doc_equals: Any) -> list[Resource]:
        """Resources of a kind whose document has the given values (small kinds only)."""
        return [r for r in self.list(kind) if all(r.doc.get(k) == v for k, v in doc_equals.items())]

    # -- tags --------------------------------------------------------------
    def tags(self, arn: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(tags.c.key, tags.c.value).where(tags.c.arn == arn))
            return {row.key: row.value for row in rows}

    def set_tags(self, arn: str, values: dict[str, str]) -> None:
        with self.transaction() as conn:
            for key, value in values.items():
                conn.execute(tags.delete().where(tags.c.arn == arn, tags.c.key == key))
                conn.execute(tags.insert().values(arn=arn, key=key, value=value))

    def remove_tags(self, arn: str, keys: list[str]) -> None:
        with self.transaction() as conn:
            conn.execute(tags.delete().where(tags.c.arn == arn, tags.c.key.in_(keys)))

    # -- job queue ---------------------------------------------------------
    def enqueue(self, arn: str, kind: str, within: Connection | None = None) -> None:
        with self._writing(within) as conn:
            conn.execute(jobs.delete().where(jobs.c.arn == arn))
            conn.execute(jobs.insert().values(arn=arn, kind=kind, attempts=0))

    def enqueue_if_idle(self, arn: str, kind: str) -> bool:
        """Queue a job for ``arn`` unless one is queued or running already; whether it was queued."""
        try:
            with self.transaction() as conn:
                conn.execute(jobs.insert().values(arn=arn, kind=kind, attempts=0))
        except sa.exc.IntegrityError:
            return False
        return True

    def claim_job(self, owner: str, stale_before: float) -> tuple[str, str, int] | None:
        """Atomically take one unowned (or abandoned) job; returns (arn, kind, attempts)."""
        with self.transaction() as conn:
            candidates = conn.execute(
                sa.select(jobs.c.arn, jobs.c.kind, jobs.c.attempts)
                .where(sa.or_(jobs.c.owner.is_(None), jobs.c.heartbeat < stale_before))
                .limit(8)
            ).all()
            for arn, kind, attempts in candidates:
                taken = conn.execute(
                    jobs.update()
                    .where(jobs.c.arn == arn)
                    .where(sa.or_(jobs.c.owner.is_(None), jobs.c.heartbeat < stale_before))
                    .values(owner=owner, heartbeat=time.time(), attempts=attempts + 1)
                )
                if taken.rowcount == 1:
                    return arn, kind, attempts + 1
        return None

    def heartbeat(self, owner: str) -> None:
        with self.transaction() as conn:
            conn.execute(jobs.update().where(jobs.c.owner == owner).values(heartbeat=time.time()))

    def job_owners(self) -> list[str]:
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(sa.select(jobs.c.owner).where(jobs.c.owner.is_not(None)).distinct())]

    def job_owner(self, arn: str) -> str | None:
        """Who runs the job now (None: queued, or no such job)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(jobs.c.owner).where(jobs.c.arn == arn)).scalar()

    def live_jobs(self, fresh_after: float) -> dict[str, str]:
        """ARN -> kind of the jobs an owner runs and heartbeated after ``fresh_after``."""
        query = sa.select(jobs.c.arn, jobs.c.kind).where(jobs.c.owner.is_not(None), jobs.c.heartbeat >= fresh_after)
        with self.engine.connect() as conn:
            return {row.arn: row.kind for row in conn.execute(query)}

    def release_jobs(self, owner: str) -> None:
        """Hand an owner's jobs back to the queue (its process is gone)."""
        with self.transaction() as conn:
            conn.execute(jobs.update().where(jobs.c.owner == owner).values(owner=None, heartbeat=None))

    def finish_job(self, arn: str, owner: str) -> None:
        """Drop a job ``owner`` ran; a row another owner took over, or one queued again meanwhile, stays."""
        with self.transaction() as conn:
            conn.execute(jobs.delete().where(jobs.c.arn == arn, jobs.c.owner == owner))


def _descendants(conn: Connection, arn: str) -> list[Resource]:
    """Every resource below ``arn``, level by level, each level's rows locked (FOR UPDATE) as they are read."""
    found: list[Resource] = []
    level = [arn]
    while level:
        query = sa.select(resources).where(resources.c.parent.in_(level)).with_for_update()
        children = [_row_to_resource(row) for row in conn.execute(query)]
        found += children
        level = [child.arn for child in children]
    return found


def _locked(conn: Connection, arn: str, shared: bool) -> bool:
    """Lock one resource row until the transaction ends; False if there is none.

    PostgreSQL: FOR SHARE (inserts of dependents run side by side) or FOR UPDATE (a delete waits
    for them, and they for it). SQLite: BEGIN IMMEDIATE already serialises every writer.
    """
    query = sa.select(resources.c.arn).where(resources.c.arn == arn).with_for_update(read=shared)
    return conn.execute(query).first() is not None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("sqlite_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
