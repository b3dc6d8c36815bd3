"""Removing what killed jobs left behind: scratch directories no running job owns."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger(__name__)


def remove_leftovers(candidates: Iterable[Path], owned: Callable[[Path], bool], before: float) -> list[Path]:
    """Remove the scratch directories among ``candidates`` that no running job owns; returns them.

    One changed at or after ``before`` is kept too: a job claimed after the caller listed the running
    jobs may have just made it.
    """
    removed = []
    for path in candidates:
        try:
            if owned(path) or path.stat().st_mtime >= before:
                continue
        except FileNotFoundError:  # its import or training finished meanwhile
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    if removed:
        log.warning("removed %d scratch directories of interrupted jobs", len(removed))
    return removed
