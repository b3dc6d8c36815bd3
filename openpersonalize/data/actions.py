"""What action data means for Next-Best-Action: event kinds, and the actions catalogue with its rules.

Shared by PutActionInteractions (which event types exist), training (which interactions are a
user taking an action) and the runtime (which actions may be recommended now):

- an action whose ACTION_EXPIRATION_TIMESTAMP has passed is never recommended;
- an action the user took (a Taken event) is not recommended again until REPEAT_FREQUENCY days
  (at most 30) after the latest time they took it; without a repeat frequency, not again at all;
- between equally likely actions, the one of greater VALUE ranks first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .schema import MAX_REPEAT_FREQUENCY_DAYS

TAKEN, NOT_TAKEN, VIEWED = "TAKEN", "NOT_TAKEN", "VIEWED"
EVENT_KINDS = (TAKEN, NOT_TAKEN, VIEWED)
DAY_SECONDS = 86400.0


def event_kind(event_type: str | None) -> str | None:
    """TAKEN, NOT_TAKEN or VIEWED for an event type as users write it (``Taken``, ``Not Taken``, ``NOT_TAKEN``);
    None for any other."""
    if not event_type:
        return None
    kind = "_".join(event_type.strip().upper().replace("-", " ").replace("_", " ").split())
    return kind if kind in EVENT_KINDS else None


def _repeat_problem(repeat: Any) -> str:
    return f"REPEAT_FREQUENCY is a number of days from 1 to {MAX_REPEAT_FREQUENCY_DAYS}, got {repeat}."


def action_problem(values: Mapping[str, Any]) -> str | None:
    """Why an action's values (schema field names) cannot be used: a REPEAT_FREQUENCY outside 1 to 30 days."""
    repeat = next((v for k, v in values.items() if k.upper() == "REPEAT_FREQUENCY"), None)
    if repeat is not None and not 1 <= repeat <= MAX_REPEAT_FREQUENCY_DAYS:
        return _repeat_problem(repeat)
    return None


def repeat_frequency_problem(column: pa.Array) -> tuple[int, str] | None:
    """(row, why) of the first REPEAT_FREQUENCY outside 1 to 30 days in an imported column, the rule
    ``action_problem`` applies to PutActions; None when every value is in range or empty."""
    outside = pc.fill_null(pc.or_(pc.less(column, 1), pc.greater(column, MAX_REPEAT_FREQUENCY_DAYS)), False)
    if not pc.any(outside).as_py():
        return None
    row = int(pc.index(outside, True).as_py())
    return row, _repeat_problem(column[row].as_py())


def _column(table: pa.Table, name: str, fill: float) -> np.ndarray:
    """A numeric column as floats, ``fill`` where missing; a long beyond 2**53 (any long a client may send)
    is rounded, not refused: one action must never break the catalogue of every request."""
    if name not in table.column_names:
        return np.full(table.num_rows, fill, np.float64)
    values = pc.cast(table[name], pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    return np.where(np.isnan(values), fill, values)


@dataclass(frozen=True)
class ActionCatalogue:
    """The actions of an ACTIONS dataset (snapshot plus PutActions records), in a fixed order (``positions``).

    ``table`` holds ACTION_ID and the metadata columns (what action filters read); the arrays are
    per action: expiry in epoch seconds (inf: never), repeat frequency in seconds (nan: none),
    value (0 when unknown).
    """

    ids: list[str]
    positions: dict[str, int]
    table: pa.Table
    expires: np.ndarray
    repeat_seconds: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, table: pa.Table | None) -> ActionCatalogue:
        """The catalogue of an Actions table (one row per ACTION_ID), or an empty one."""
        if table is None or table.num_rows == 0:
            empty = np.zeros(0, np.float64)
            return cls([], {}, pa.table({"ACTION_ID": pa.array([], pa.string())}), empty, empty, empty)
        repeat = np.clip(_column(table, "REPEAT_FREQUENCY", np.nan), 0, MAX_REPEAT_FREQUENCY_DAYS) * DAY_SECONDS
        ids = [str(a) for a in table["ACTION_ID"].to_pylist()]
        return cls(
            ids,
            {a: i for i, a in enumerate(ids)},
            table,
            _column(table, "ACTION_EXPIRATION_TIMESTAMP", np.inf),
            repeat,
            _column(table, "VALUE", 0.0),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def allowed(self, now: float, taken: Iterable[tuple[int, float]]) -> np.ndarray:
        """Which actions may be recommended at ``now`` to a user who took (position, time) ones."""
        ok = self.expires > now
        last: dict[int, float] = {}
        for position, stamp in taken:
            last[position] = max(stamp, last.get(position, stamp))
        for position, stamp in last.items():
            wait = self.repeat_seconds[position]
            if np.isnan(wait) or now < stamp + wait:
                ok[position] = False
        return ok


def rank_actions(scores: np.ndarray, values: np.ndarray, allowed: np.ndarray, k: int) -> Sequence[int]:
    """The ``k`` allowed positions by score, the greater VALUE first between equal scores, then by position."""
    positions = np.flatnonzero(allowed)
    order = np.lexsort((positions, -values[positions], -scores[positions]))
    return positions[order[:k]].tolist()
