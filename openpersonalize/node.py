"""One ``openpersonalize serve`` as a node of a deployment: start checks, registration, heartbeat.

At start a node checks that it reaches its database and its object store (one line naming the
one it cannot reach), then registers in the node registry (``store/nodes.py``) every node of the
deployment shares. Several live nodes must serve from the same shared state: a SQLite database,
a local object store, or another object store than the live nodes' is refused with one line. Stores
are compared by ``ObjectStore.fingerprint`` (the URL and the id kept in the store itself), so one
bucket name on two S3 services is two stores, and one store reached by two endpoint spellings is one.
A node beats every ``BEAT_SECONDS``; a row is live while its beat is younger than
``STALE_SECONDS`` and, on this host, while its process runs (a SIGKILLed node on this host is
known dead at once). At start and every ``SWEEP_SECONDS`` the node also drops its cached copies of
models and snapshots whose resource another node deleted (``ObjectStore.sweep_cache``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from .jobs import processes
from .store.metadata import MetadataStore, resources
from .store.nodes import NodeRow, NodeTable
from .store.objects import ObjectStore, ObjectStoreError

log = logging.getLogger(__name__)

BEAT_SECONDS = 5.0
STALE_SECONDS = 30.0
SWEEP_SECONDS = 60.0
CONNECT_SECONDS = 5
LOCK_FILE = ".openpersonalize.lock"


class StartupError(Exception):
    """The node cannot start; the message is one line naming what is wrong."""


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def shown_database(url: str) -> str:
    """``url`` as messages may show it: its password, and any ``password`` query argument, as ``***``.

    StartupError (naming no part of the URL, which may hold the secret) when it does not parse, or when
    its host holds an ``@``: a password with an unescaped ``@`` (``%40``) whose tail parsed as the host.
    """
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise StartupError(
            f"--database-url is not a valid URL ({type(exc).__name__}); expected dialect+driver://user:password@host:port/db"
        ) from None
    if "@" in (parsed.host or ""):
        raise StartupError("--database-url: its host holds '@'; percent-encode an '@' in the password as %40")
    query = {k: "***" if "password" in k.lower() else v for k, v in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True)


def open_database(url: str) -> MetadataStore:
    """The metadata store at ``url``, or StartupError naming the database (secrets hidden) and the reason."""
    shown = shown_database(url)
    try:
        if make_url(url).get_backend_name() != "sqlite":  # fail fast instead of the driver's long default
            probe = sa.create_engine(url, connect_args={"connect_timeout": CONNECT_SECONDS})
            try:
                with probe.connect():
                    pass
            finally:
                probe.dispose()
        return MetadataStore(url)
    except ImportError as exc:
        raise StartupError(f"cannot use the database {shown}: its driver is not installed ({exc})") from None
    except sa.exc.SQLAlchemyError as exc:
        raise StartupError(f"cannot reach the database {shown}: {_first_line(exc)}") from None


def sweep_cache(store: MetadataStore, objects: ObjectStore) -> None:
    """Drop the cached copies of deleted resources' artifacts (listed before the ARNs are read, see sweep_cache)."""
    listed = objects.cached_resources()
    if not listed:
        return
    with store.engine.connect() as conn:
        arns = conn.execute(sa.select(resources.c.arn)).scalars().all()
    for key in objects.sweep_cache(listed, arns):
        log.info("dropped the cached copy of %s: its resource was deleted", key)


class Node:
    """This process's row in the registry and the thread that keeps it fresh (and its object cache swept)."""

    def __init__(self, table: NodeTable, row: NodeRow, objects: ObjectStore, locks: list[int]) -> None:
        self.table = table
        self.row = row
        self.objects = objects
        self.locks = locks  # held on the data dir and a local object store while the node runs (lock_dir)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="node-heartbeat", daemon=True)

    def start(self) -> None:
        """Beat from now on, and leave the registry on SIGTERM too (uvicorn re-raises it once it has stopped)."""
        self._thread.start()
        signal.signal(signal.SIGTERM, self._leave_then_die)

    def _leave_then_die(self, signum: int, _frame: object) -> None:
        self.leave()
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    def leave(self) -> None:
        """Stop beating and remove the row (a clean shutdown; a killed node's row goes stale instead)."""
        self._stop.set()
        try:
            self.table.remove([self.row.id])
        except sa.exc.SQLAlchemyError:
            log.warning("could not remove node %s from the registry", self.row.id, exc_info=True)
        while self.locks:
            os.close(self.locks.pop())

    def _beat(self) -> None:
        swept = time.monotonic()
        while not self._stop.wait(BEAT_SECONDS):
            try:
                if not self.table.beat(self.row.id):  # removed as dead during a long pause: register again
                    self.table.register(self.row)
            except sa.exc.SQLAlchemyError:
                log.warning("node heartbeat failed", exc_info=True)
            if time.monotonic() - swept >= SWEEP_SECONDS:
                swept = time.monotonic()
                self.sweep()

    def sweep(self) -> None:
        """Drop cached copies of deleted resources now; a failure is logged (leftovers break nothing)."""
        try:
            sweep_cache(self.table.store, self.objects)
        except (sa.exc.SQLAlchemyError, OSError, ObjectStoreError):  # leftovers waste disk, they break nothing
            log.warning("sweeping the object cache failed", exc_info=True)


def _live(row: NodeRow, now: float) -> bool:
    if row.heartbeat < now - STALE_SECONDS:
        return False
    return row.host != socket.gethostname() or processes.alive(row.pid, row.start_token)


def _refusal(store: MetadataStore, objects: ObjectStore, me: NodeRow, other: NodeRow, now: float) -> str | None:
    """Why this node may not run beside ``other`` (None: it may)."""
    seen = f"node {other.address} (host {other.host}, pid {other.pid}, beat {now - other.heartbeat:.0f} s ago)"
    several = "several nodes need --database-url postgresql+psycopg://… and --object-store s3://bucket/prefix"
    if (other.host, other.data_dir) == (me.host, me.data_dir):
        return f"{seen} already uses the data dir {me.data_dir}; give each node its own --data-dir"
    if store.engine.dialect.name == "sqlite":
        return f"{seen} already serves from this SQLite database; {several}"
    if not objects.remote:
        return f"{seen} is live and this node's object store {objects.location.describe()} is local; {several}"
    if other.object_store != me.object_store:
        return f"{seen} serves from object store {other.object_store}, this node from {me.object_store}"
    return None


def make_data_dir(path: Path) -> None:
    """``path`` as a data dir, made private (0700) when new: it holds the users' data (SQLite database, snapshots,
    models) and the generated credentials, which no other local account may read."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def lock_dir(path: Path) -> int:
    """An exclusive lock on ``path`` for as long as this process holds the returned descriptor, else StartupError.

    The registry lives in the database, so it cannot see a server given another database on the same data
    dir or local object store (same ARNs, same artifact paths, each start sweeping the other's files); the
    kernel drops the lock when the process dies, however it dies.
    """
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StartupError(f"refusing to start: another openpersonalize server uses {path}") from None
    return fd


def start_node(database_url: str, objects: ObjectStore, data_dir: Path, address: str) -> Node:
    """Check the database and the object store, join the registry and start the heartbeat; StartupError if not."""
    try:
        make_data_dir(data_dir)  # a SQLite database lies there by default
    except OSError as exc:
        raise StartupError(f"cannot use the data dir {data_dir}: {exc.strerror}") from None
    store = open_database(database_url)
    try:
        objects.check()
        store_name = objects.fingerprint()
    except ObjectStoreError as exc:
        raise StartupError(str(exc)) from None
    table = NodeTable(store)
    pid = os.getpid()
    now = time.time()
    row = NodeRow(
        id=uuid.uuid4().hex,
        host=socket.gethostname(),
        pid=pid,
        start_token=processes.start_token(pid),
        address=address,
        data_dir=str(data_dir),
        object_store=store_name,
        started=now,
        heartbeat=now,
    )
    table.register(row)  # registered before looking, so of two nodes starting at once neither misses the other
    others = [r for r in table.rows() if r.id != row.id]
    table.remove([r.id for r in others if not _live(r, now)])
    for other in others:
        why = _live(other, now) and _refusal(store, objects, row, other, now)
        if why:
            table.remove([row.id])
            raise StartupError(f"refusing to start: {why}")
    locks: list[int] = []
    try:
        for path in [data_dir] + ([] if objects.remote else [objects.local_root]):
            locks.append(lock_dir(path))
    except StartupError:
        table.remove([row.id])
        for fd in locks:
            os.close(fd)
        raise
    objects.clear_fetches()  # the data dir is this node's alone: a download left there was killed
    node = Node(table, row, objects, locks)
    node.sweep()
    node.start()
    return node
