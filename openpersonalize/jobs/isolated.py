"""Run one CPU-heavy job step (training) away from the server's own threads, on the installed executor.

The local executor runs it in a child process of this server (``jobs/child.py``); the Ray executor
as a task on the cluster (``jobs/ray_executor.py``). Either way the result, a failure
(``JobError``, with the step's own message) and a stop (``JobStopped``) look the same to the caller.
"""

from __future__ import annotations

from typing import Any

from .child import JobError, JobStopped, Step
from .executors import installed

__all__ = ["JobError", "JobStopped", "Step", "run_isolated"]


def run_isolated(step: Step) -> Any:
    """Run ``step`` on the installed executor and return its (picklable) result."""
    return installed().call(step)
