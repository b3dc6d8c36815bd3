"""The local executor's way to run one job step (training): in a spawned child process.

The API process keeps its GIL for requests, the child's memory is returned to the
OS when it ends, a crash there becomes a job failure instead of a server crash,
and a stop request terminates the child at once. The child never outlives the job: it dies with
its parent (even a SIGKILLed one) and is killed and reaped whenever ``run_in_child`` returns.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import processes


class JobStopped(Exception):
    """The job was asked to stop and its child process was terminated."""


class JobError(Exception):
    """The child raised; ``message`` is what it said (user-facing), ``trace`` the traceback."""

    def __init__(self, message: str, trace: str) -> None:
        super().__init__(message)
        self.message = message
        self.trace = trace


def _never() -> bool:
    return False


def _ignore(_fraction: float) -> None:
    return None


@dataclass(frozen=True)
class Step:
    """One job step (a training): ``fn(progress=..., **kwargs)`` run away from the server's threads.

    ``fn`` (module-level) and ``kwargs`` travel to where the step runs, so both must pickle;
    ``should_stop`` and ``on_progress`` stay with the caller, which looks every ``poll_seconds``.
    """

    fn: Callable[..., Any]
    kwargs: dict[str, Any]
    should_stop: Callable[[], bool] = _never
    on_progress: Callable[[float], None] = _ignore
    poll_seconds: float = 1.0


def _child(conn: Any, fn: Callable[..., Any], kwargs: dict[str, Any], parent_pid: int) -> None:
    processes.die_with_parent(parent_pid)

    def progress(fraction: float) -> None:
        conn.send(("progress", float(fraction)))

    try:
        result = fn(progress=progress, **kwargs)
        conn.send(("done", result))
    except BaseException as exc:  # report everything, including MemoryError
        conn.send(("error", (f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc), traceback.format_exc())))
    finally:
        conn.close()


def run_in_child(step: Step) -> Any:
    """Run ``step`` in a spawned process and return its (picklable) result."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, step.fn, step.kwargs, os.getpid()), daemon=True)
    proc.start()
    child.close()
    try:
        while True:
            if parent.poll(step.poll_seconds):
                try:
                    kind, value = parent.recv()
                except EOFError:
                    proc.join()
                    raise JobError(f"The training process died (exit code {proc.exitcode})", "") from None
                if kind == "progress":
                    step.on_progress(value)
                elif kind == "done":
                    return value
                else:
                    raise JobError(*value)
            elif not proc.is_alive():
                raise JobError(f"The training process died (exit code {proc.exitcode})", "")
            if step.should_stop():
                raise JobStopped()
    finally:
        processes.stop(proc)
        parent.close()
