"""An ordered map over spawned worker processes, with a bounded number of items in flight.

Batch scoring is CPU-bound Python and numpy, so threads share one GIL; processes use every
core. Each worker builds its state once (``setup(**kwargs)``, e.g. a memory-mapped model),
then applies it to the items it is sent. Results come back in input order, and at most
``depth`` items per worker are in flight, so memory stays bounded whatever the input size.

A worker never outlives its parent: it reads its items from a pipe whose only writer is the
parent, so when the parent ends (even killed) the read fails and the worker exits at once; and
``processes.die_with_parent`` ends it even while native code holds its GIL.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..blas import single_threaded_blas
from . import processes

_STOP = None  # items travel as 1-tuples, so any item (None included) differs from it


class WorkerError(Exception):
    """A worker raised or died; ``trace`` holds its traceback when it had one."""

    def __init__(self, message: str, trace: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.trace = trace


def default_processes() -> int:
    """The CPUs this process may run on (cgroup/affinity aware where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _receive(inbox: Any, items: queue.Queue[Any]) -> None:
    """Drain the parent's pipe into ``items`` (so the parent never blocks on a full pipe) until _STOP.

    The pipe's end without _STOP means the parent is gone: nobody wants the answers, exit at once.
    """
    try:
        while (message := inbox.recv()) is not _STOP:
            items.put(message)
    except (EOFError, OSError):
        os._exit(1)
    items.put(_STOP)


def _send(outbox: Any, reply: tuple[str, Any]) -> None:
    try:
        outbox.send(reply)
    except OSError:  # the parent is gone
        os._exit(1)


def _worker(
    inbox: Any, outbox: Any, setup: Callable[..., Callable[[Any], Any]], kwargs: dict[str, Any], parent_pid: int
) -> None:
    processes.die_with_parent(parent_pid)
    items: queue.Queue[Any] = queue.Queue()
    threading.Thread(target=_receive, args=(inbox, items), daemon=True).start()
    try:
        fn = setup(**kwargs)
        single_threaded_blas()  # one process per CPU already; after setup, whatever BLAS it loaded
        while (message := items.get()) is not _STOP:
            _send(outbox, ("ok", fn(message[0])))
    except BaseException as exc:  # report everything, MemoryError included
        _send(outbox, ("error", (f"{type(exc).__name__}: {exc}", traceback.format_exc())))


class OrderedPool:
    """``processes`` spawned workers answering items in input order (use as a context manager)."""

    def __init__(
        self,
        setup: Callable[..., Callable[[Any], Any]],
        kwargs: dict[str, Any],
        processes: int,
        depth: int = 2,
    ) -> None:
        """Start the workers; ``setup`` must be a module-level function (it is pickled by reference)."""
        ctx = mp.get_context("spawn")
        self.depth = max(1, depth)
        self._workers: list[tuple[Any, Any, Any]] = []
        try:
            for _ in range(max(1, processes)):
                in_read, in_write = ctx.Pipe(duplex=False)
                out_read, out_write = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_worker, args=(in_read, out_write, setup, kwargs, os.getpid()), daemon=True)
                proc.start()
                in_read.close()
                out_write.close()
                self._workers.append((proc, in_write, out_read))
        except BaseException:
            self.close()
            raise

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids."""
        return [proc.pid for proc, _, _ in self._workers]

    def imap(self, items: Iterable[Any]) -> Iterator[Any]:
        """Results of the items, in order; raises ``WorkerError`` when a worker fails."""
        pending: deque[int] = deque()
        limit = self.depth * len(self._workers)
        for n, item in enumerate(items):
            if len(pending) >= limit:
                yield self._result(pending.popleft())
            which = n % len(self._workers)
            try:
                self._workers[which][1].send((item,))
            except OSError:
                raise self._died(which) from None
            pending.append(which)
        while pending:
            yield self._result(pending.popleft())

    def _result(self, which: int) -> Any:
        try:
            kind, value = self._workers[which][2].recv()
        except (EOFError, OSError):
            raise self._died(which) from None
        if kind == "error":
            raise WorkerError(*value)
        return value

    def _died(self, which: int) -> WorkerError:
        proc = self._workers[which][0]
        proc.join(1)
        return WorkerError(f"A worker process died (exit code {proc.exitcode}).")

    def close(self) -> None:
        """Stop the workers (a busy one is terminated after a second, and reaped) and release their pipes."""
        for _, inbox, _ in self._workers:
            try:
                inbox.send(_STOP)
            except OSError:
                pass
            inbox.close()
        for proc, _, outbox in self._workers:
            proc.join(1)
            processes.stop(proc)
            outbox.close()
        self._workers = []

    def __enter__(self) -> OrderedPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
