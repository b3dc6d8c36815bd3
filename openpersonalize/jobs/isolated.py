"""Run one CPU-heavy job step (training) away from the server's own threads, on the installed executor.

The local executor runs it in a child process of this server (``jobs/child.py``); the Ray executor
as a task on the cluster (``jobs/ray_executor.py``). Either way the result, a failure
(``JobError``, with the step's own message) and a stop (``JobStopped``) look the same to the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .child import JobError, JobStopped
from .executors import installed

__all__ = ["JobError", "JobStopped", "run_isolated"]


def run_isolated(
    fn: Callable[..., Any],
    kwargs: dict[str, Any],
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[float], None] = lambda _: None,
    poll_seconds: float = 1.0,
) -> Any:
    """Call ``fn(progress=..., **kwargs)`` on the installed executor and return its (picklable) result."""
    return installed().call(fn, kwargs, should_stop, on_progress, poll_seconds)
