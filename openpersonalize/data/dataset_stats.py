"""Summary figures of a dataset snapshot: rows, distinct users and items, event types, interactions per day.

Snapshots never change once written, so a summary is computed once per snapshot directory and kept
(``summarise`` is cached): the console's dataset page reads it on every visit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from .csv_import import read_snapshot

DAY = 86_400


@dataclass(frozen=True)
class DatasetSummary:
    """What the console shows of a snapshot; ``per_day`` is (epoch day start, interactions) in day order."""

    rows: int = 0
    distinct_users: int | None = None
    distinct_items: int | None = None
    event_types: list[tuple[str, int]] = field(default_factory=list)
    per_day: list[tuple[int, int]] = field(default_factory=list)


def summarise_table(table: pa.Table | None) -> DatasetSummary:
    """The summary of one table (any dataset type: only the columns it has are counted)."""
    if table is None or table.num_rows == 0:
        return DatasetSummary()
    names = set(table.column_names)

    def distinct(column: str) -> int | None:
        return pc.count_distinct(table.column(column)).as_py() if column in names else None

    events: list[tuple[str, int]] = []
    if "EVENT_TYPE" in names:
        counts = pc.value_counts(table.column("EVENT_TYPE").combine_chunks())
        events = sorted(((str(v["values"]), int(v["counts"])) for v in counts.to_pylist()), key=lambda e: (-e[1], e[0]))
    per_day: list[tuple[int, int]] = []
    if "TIMESTAMP" in names and "USER_ID" in names:
        days = pc.multiply(pc.divide(pc.cast(table.column("TIMESTAMP"), pa.int64()), DAY), DAY)
        counts = pc.value_counts(days.combine_chunks() if isinstance(days, pa.ChunkedArray) else days)
        per_day = sorted((int(v["values"]), int(v["counts"])) for v in counts.to_pylist() if v["values"] is not None)
    return DatasetSummary(table.num_rows, distinct("USER_ID"), distinct("ITEM_ID"), events, per_day)


@lru_cache(maxsize=64)
def summarise(snapshot: Path | None) -> DatasetSummary:
    """The summary of the snapshot in this directory (None: an empty dataset), computed once per snapshot."""
    return summarise_table(read_snapshot(snapshot))
