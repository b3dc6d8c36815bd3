"""A job parent to SIGKILL in tests: runs a training-like child (or a pool worker) that sleeps.

``python job_children.py isolated|pool PID_FILE``: the child writes its pid to PID_FILE, then
sleeps far longer than any test waits, so only its parent's death can end it early.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SLEEP_SECONDS = 600.0


def sleep_in_child(progress: Callable[[float], None], pid_file: str) -> None:
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(SLEEP_SECONDS)


def sleeping_answerer(pid_file: str) -> Callable[[Any], Any]:
    def answer(item: Any) -> Any:
        sleep_in_child(lambda _: None, pid_file)
        return item

    return answer


def main(mode: str, pid_file: str) -> None:
    if mode == "isolated":
        from openpersonalize.jobs.isolated import Step, run_isolated

        run_isolated(Step(sleep_in_child, {"pid_file": pid_file}))
    else:
        from openpersonalize.jobs.process_pool import OrderedPool

        with OrderedPool(sleeping_answerer, {"pid_file": pid_file}, processes=1) as pool:
            list(pool.imap([1]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
