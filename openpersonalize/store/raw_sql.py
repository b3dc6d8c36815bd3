"""Plain DB-API connections for the hot paths that SQLAlchemy Core makes slow: the runtime's reads of
live events, and the events' group commit.

Core builds, compiles-from-cache and executes a statement in ~150-400 us here, against ~10 us for the
same indexed statement on a plain cursor; GetRecommendations reads live data on every request, and
every PutEvents commits. The statements are written with ``?`` placeholders, replaced by the
driver's own mark (PostgreSQL's ``%s``). Each thread owns its connections (taken from the engine,
so they carry its settings: SQLite's WAL and synchronous=FULL), and a connection that breaks is
replaced.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy.engine import Engine


class _Owned:
    """One DB-API connection per thread, detached from the engine's pool."""

    def __init__(self, engine: Engine, autocommit: bool) -> None:
        self.engine = engine
        self.autocommit = autocommit
        self.mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self.postgres = engine.dialect.name == "postgresql"
        self._local = threading.local()

    def connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.engine.raw_connection()
            if self.postgres:
                conn.rollback()  # autocommit can only be switched outside a transaction
                conn.dbapi_connection.autocommit = self.autocommit
            conn.detach()  # owned by this thread, not the pool
            self._local.conn = conn
        return conn

    def drop(self, conn: Any) -> None:
        """Forget a connection that failed; the next use opens a new one."""
        self._local.conn = None
        conn.invalidate()

    @property
    def errors(self) -> type[Exception]:
        return self.engine.dialect.loaded_dbapi.Error


class RawReads:
    """Single SELECTs in autocommit, so every read sees the latest commit."""

    def __init__(self, engine: Engine) -> None:
        self._owned = _Owned(engine, autocommit=True)

    def rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run one SELECT (``?`` placeholders); a broken connection is replaced once."""
        sql = sql.replace("?", self._owned.mark)
        for attempt in (1, 2):
            conn = self._owned.connection()
            try:
                cursor = conn.cursor()
                try:
                    cursor.execute(sql, params)
                    return cursor.fetchall()
                finally:
                    cursor.close()
            except self._owned.errors:
                self._owned.drop(conn)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class RawTransaction:
    """The statements of one transaction on a plain cursor (``?`` placeholders)."""

    def __init__(self, cursor: Any, mark: str) -> None:
        self._cursor = cursor
        self._mark = mark

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows when it returns any."""
        self._cursor.execute(sql.replace("?", self._mark), tuple(params))
        return self._cursor.fetchall() if self._cursor.description is not None else []

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        self._cursor.executemany(sql.replace("?", self._mark), [tuple(p) for p in params])


class RawWrites:
    """Write transactions, committed on leaving ``transaction()`` (SQLite's begin IMMEDIATE, as the
    metadata store's writers do, so writers take turns instead of failing to upgrade a read lock)."""

    def __init__(self, engine: Engine) -> None:
        self._owned = _Owned(engine, autocommit=False)

    @contextmanager
    def transaction(self) -> Iterator[RawTransaction]:
        """One transaction: committed when the block ends, rolled back (and the connection replaced) on error."""
        conn = self._owned.connection()
        cursor = conn.cursor()
        try:
            if not self._owned.postgres:
                cursor.execute("BEGIN IMMEDIATE")
            yield RawTransaction(cursor, self._owned.mark)
            conn.commit()
        except BaseException:
            with suppress(self._owned.errors):
                cursor.close()
                conn.rollback()
            self._owned.drop(conn)
            raise
        cursor.close()
