"""Process lifetimes for the job system: who is alive, children that die with their parent, reaping.

A job row names its owner by host, pid and the pid's start time, so a restarted server can tell a
dead owner (gone, a zombie, or its pid reused by a newer process) from a live one at once, instead
of waiting for the owner's heartbeat to go stale.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1
_DEAD_STATES = ("Z", "X")  # zombie (exited, not yet reaped) and dead


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first); None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw[raw.rindex(")") + 2 :].split()


def start_token(pid: int) -> str:
    """The process's start time (clock ticks since boot) where /proc tells it; "" elsewhere."""
    if sys.platform != "linux":
        return ""
    fields = _stat_fields(pid)
    return fields[19] if fields else ""


def alive(pid: int, token: str = "") -> bool:
    """Whether ``pid`` runs and is the process that had start token ``token`` (when one is given).

    A zombie counts as dead: it has exited, only its parent has not collected its status yet.
    """
    if sys.platform == "linux":
        fields = _stat_fields(pid)
        if fields is None or fields[0] in _DEAD_STATES:
            return False
        return not token or fields[19] == token
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def job_children(pid: int) -> list[int]:
    """The processes ``pid`` spawned for jobs (training children, pool workers), from /proc (Linux).

    multiprocessing's resource tracker, also a child, is not one of them.
    """
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        fields = _stat_fields(int(entry))
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields is not None and fields[1] == str(pid) and b"spawn_main" in cmdline:
            found.append(int(entry))
    return found


def die_with_parent(parent_pid: int) -> None:
    """Make the calling (child) process end as soon as ``parent_pid``, its parent, ends.

    Linux: the kernel sends SIGKILL when the parent's spawning thread exits (PR_SET_PDEATHSIG), even
    when the parent is SIGKILLed and the child is deep in native code. Elsewhere a thread watches for
    the child being reparented. Either way a parent already gone by now ends the child at once.
    """
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    else:
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:
        os._exit(1)


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.2)
    os._exit(1)


def stop(proc: Any, grace: float = 5.0) -> None:
    """End a multiprocessing child for sure and reap it: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc.is_alive():
        proc.terminate()
        proc.join(grace)
    if proc.is_alive():
        proc.kill()
    proc.join()
