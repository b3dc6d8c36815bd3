"""Background job runner backed by the SQL job queue.

Jobs (imports, training, batch) are rows in the ``jobs`` table; each server
process runs a few worker threads that claim rows atomically, so several
processes (or hosts on PostgreSQL) share the work. A process heartbeats the jobs
it owns; a job whose owner died is claimed again and resumed, so nothing stays
IN_PROGRESS for ever. An owner on this host is known dead at once (its pid is gone, a
zombie, or reused: owners carry their pid's start time); elsewhere its heartbeat goes stale.
At start, a runner also removes what interrupted runs left behind (``JobHandler.sweep``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from ..store.metadata import MetadataStore
from ..store.s3_errors import s3_failure
from . import processes

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class JobHandler:
    """How to run one kind of job, and how to mark it failed when it cannot run."""

    run: Callable[[str], None]
    fail: Callable[[str, str], None]
    sweep: Callable[[set[str], float], None] | None = None
    """Remove leftovers (scratch files) of interrupted runs, except those of the given running jobs
    and anything changed after the given time (a job claimed since may have made it)."""


_lease: ContextVar[tuple[JobRunner, str] | None] = ContextVar("job_lease", default=None)


def lease_lost() -> bool:
    """Whether the job the calling thread runs is no longer its runner's (taken over or finished elsewhere).

    A long job polls this to stop its work instead of racing the owner that took it over.
    """
    lease = _lease.get()
    return lease is not None and lease[0].store.job_owner(lease[1]) != lease[0].owner


class JobRunner:
    """Claims queued jobs and runs them on worker threads."""

    def __init__(
        self,
        store: MetadataStore,
        handlers: dict[str, JobHandler],
        workers: int = 2,
        poll_seconds: float = 1.0,
        stale_seconds: float = 60.0,
    ) -> None:
        self.store = store
        self.handlers = handlers
        pid = os.getpid()
        self.owner = f"{socket.gethostname()}:{pid}:{processes.start_token(pid)}:{uuid.uuid4().hex[:8]}"
        self.poll_seconds = poll_seconds
        self.stale_seconds = stale_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, name=f"job-{i}", daemon=True) for i in range(workers)]
        self._threads.append(threading.Thread(target=self._beat, name="job-heartbeat", daemon=True))

    def start(self) -> None:
        self._release_dead_local_owners()
        self._sweep()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """Tell the workers a job was queued (no need to wait for the next poll)."""
        self._wake.set()

    def _release_dead_local_owners(self) -> None:
        """Jobs of a crashed process on this host are resumed at once, not after the stale timeout."""
        host = socket.gethostname()
        for owner in self.store.job_owners():
            name, pid, *rest = owner.split(":")
            token = rest[0] if len(rest) == 2 else ""  # owners written before start tokens have none
            if name == host and pid.isdigit() and not processes.alive(int(pid), token):
                log.warning("taking over the jobs of %s: that process is gone", owner)
                self.store.release_jobs(owner)

    def _sweep(self) -> None:
        before = time.time()
        live = self.store.live_jobs(before - self.stale_seconds)
        for kind, handler in self.handlers.items():
            if handler.sweep is not None:
                try:
                    handler.sweep({arn for arn, k in live.items() if k == kind}, before)
                except Exception:  # leftovers waste disk, they break nothing: never block the start
                    log.exception("removing leftovers of %s jobs failed", kind)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                claimed = self.store.claim_job(self.owner, time.time() - self.stale_seconds)
            except Exception:  # the database may be briefly unavailable; retry on the next poll
                log.exception("claiming a job failed")
                claimed = None
            if claimed is None:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                continue
            self._run(*claimed)

    def _run(self, arn: str, kind: str, attempts: int) -> None:
        handler = self.handlers.get(kind)
        lease = _lease.set((self, arn))
        try:
            if handler is None:
                log.error("no handler for job kind %s (%s)", kind, arn)
            elif attempts > MAX_ATTEMPTS:
                handler.fail(arn, f"The job was interrupted {attempts - 1} times and was abandoned")
            else:
                handler.run(arn)
        except Exception as exc:
            log.exception("job %s failed", arn)
            if handler is not None:
                handler.fail(arn, f"Internal error: {_reason(exc)}")
        finally:
            _lease.reset(lease)
            self.store.finish_job(arn, self.owner)

    def _beat(self) -> None:
        """Heartbeat the owned jobs; take over those of local processes that died (a sibling worker)."""
        while not self._stop.wait(min(10.0, self.stale_seconds / 4)):
            try:
                self.store.heartbeat(self.owner)
                self._release_dead_local_owners()
            except Exception:
                log.exception("job heartbeat failed")


def _reason(exc: Exception) -> str:
    """An unexpected failure as the job's failureReason: an S3 call's (a read cut mid-stream) without the endpoint
    the server reached it at (``store/s3_errors.py``), anything else as its type and message."""
    if isinstance(exc, BotoCoreError | ClientError):
        return s3_failure(exc)
    return f"{type(exc).__name__}: {exc}"
