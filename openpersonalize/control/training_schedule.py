"""When a solution with automatic training trains next, as Personalize schedules it.

``autoTrainingConfig.schedulingExpression`` is ``rate(N days)`` with N from 1 to 30 (every 7 days by
default). The first automatic training is due an hour after the solution is created (or after an
update turns automatic training on); a version created by hand within that hour skips it. A node that
was down when trainings were due trains once, then keeps to the schedule. The schedule is stored on the
solution (``NEXT`` and ``FIRST``), so it survives restarts and every node reads the same one.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import InvalidInputException

DEFAULT_EXPRESSION = "rate(7 days)"
FIRST_DELAY_SECONDS = 3600.0
DAY_SECONDS = 86_400.0
NEXT = "_nextAutoTraining"  # epoch seconds the next automatic training is due (None: automatic training is off)
FIRST = "_firstAutoTraining"  # True until the first automatic training ran or was skipped
_RATE = re.compile(r"rate\((\d+) days?\)")


def interval_seconds(expression: str, member: str = "autoTrainingConfig.schedulingExpression") -> float:
    """The period of ``rate(N days)``; InvalidInputException naming ``member`` otherwise."""
    found = _RATE.fullmatch(expression.strip())
    if found is None or not 1 <= int(found.group(1)) <= 30:
        raise InvalidInputException(f"{member}: {expression!r} is not rate(N days) with N from 1 to 30.")
    return int(found.group(1)) * DAY_SECONDS


def expression(solution_config: dict[str, Any]) -> str:
    """A solution's scheduling expression (the default when it sets none)."""
    return (solution_config.get("autoTrainingConfig") or {}).get("schedulingExpression") or DEFAULT_EXPRESSION


def interval_of(solution_config: dict[str, Any]) -> float:
    """The period of a solution's (valid) schedule."""
    return interval_seconds(expression(solution_config))


def started(now: float) -> dict[str, Any]:
    """The schedule of a solution whose automatic training starts at ``now``."""
    return {NEXT: now + FIRST_DELAY_SECONDS, FIRST: True}


def stopped() -> dict[str, Any]:
    return {NEXT: None, FIRST: False}


def after_due(due: float, now: float, interval: float) -> dict[str, Any]:
    """The schedule once the training due at ``due`` starts at ``now``: the next slot after ``now`` (slots
    missed while no node ran are not made up)."""
    missed = max(0, int((now - due) // interval))
    return {NEXT: due + (missed + 1) * interval, FIRST: False}


def after_manual(schedule: dict[str, Any], now: float, interval: float) -> dict[str, Any] | None:
    """The schedule after a version created by hand at ``now``: the first automatic training is skipped when
    it was still to come; None when nothing changes."""
    due = schedule.get(NEXT)
    if not schedule.get(FIRST) or due is None or now >= due:
        return None
    return {NEXT: due + interval, FIRST: False}
