"""Metric attribution state in SQL: which campaign or recommender a recommendationId came from,
how far each metric attribution has read the live events, and its per-hour totals.

Shares the metadata store's engine. ``advance`` adds what a run of events measures to the totals
in the same transaction that moves the mark past them (a compare-and-set), so every event counts
exactly once whichever node publishes and however often a publication is interrupted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .metadata import MetadataStore, dialect_insert, writing

_meta = sa.MetaData()

recommendation_sources = sa.Table(
    "recommendation_sources",
    _meta,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("source_arn", sa.String(512), nullable=False),
)

attribution_marks = sa.Table(
    "attribution_marks",
    _meta,
    sa.Column("arn", sa.String(512), primary_key=True),
    sa.Column("through_id", sa.BigInteger, nullable=False),  # the newest live event id already counted
)

attribution_totals = sa.Table(
    "attribution_totals",
    _meta,
    sa.Column("arn", sa.String(512), primary_key=True),
    sa.Column("metric", sa.String(256), primary_key=True),
    sa.Column("source", sa.String(1024), primary_key=True),
    sa.Column("hour", sa.BigInteger, primary_key=True),  # epoch seconds of the hour's start
    sa.Column("event_type", sa.String(256), nullable=False),
    sa.Column("function", sa.String(32), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
)

# Hours whose totals changed since their file was last written; ``changes`` moves on every change.
attribution_dirty = sa.Table(
    "attribution_dirty",
    _meta,
    sa.Column("arn", sa.String(512), primary_key=True),
    sa.Column("hour", sa.BigInteger, primary_key=True),
    sa.Column("changes", sa.BigInteger, nullable=False),
)


@dataclass(frozen=True)
class Total:
    """One metric's total for one source in one hour."""

    metric: str
    event_type: str
    function: str  # "sum" or "samplecount", as the reports spell it
    source: str
    hour: int
    value: float


# A total's key: (metric, event type, function, source, hour).
TotalKey = tuple[str, str, str, str, int]


class AttributionStore:
    """Recommendation sources, attribution marks and totals; one per process."""

    def __init__(self, metadata: MetadataStore) -> None:
        self.engine: Engine = metadata.engine
        self._writer: Engine = metadata.writer
        _meta.create_all(self._writer)

    # -- recommendation sources ------------------------------------------------
    def remember_source(self, key: str, source_arn: str) -> None:
        """Record that recommendationIds carrying ``key`` come from ``source_arn`` (kept if already there)."""
        stmt = dialect_insert(self._writer, recommendation_sources).values(key=key, source_arn=source_arn)
        with self._writer.begin() as conn:
            conn.execute(stmt.on_conflict_do_nothing(index_elements=[recommendation_sources.c.key]))

    def sources(self, keys: Iterable[str]) -> dict[str, str]:
        """key -> campaign or recommender ARN, for the keys that are known."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        query = sa.select(recommendation_sources).where(recommendation_sources.c.key.in_(wanted))
        with self.engine.connect() as conn:
            return {row.key: row.source_arn for row in conn.execute(query)}

    # -- marks and totals --------------------------------------------------------
    def start(self, arn: str, through_id: int) -> None:
        """Begin counting ``arn``'s events after ``through_id`` (events older than the attribution never count)."""
        stmt = dialect_insert(self._writer, attribution_marks).values(arn=arn, through_id=through_id)
        with self._writer.begin() as conn:
            conn.execute(stmt.on_conflict_do_nothing(index_elements=[attribution_marks.c.arn]))

    def mark(self, arn: str) -> int | None:
        """The newest live event id ``arn`` has counted (None: no such attribution)."""
        query = sa.select(attribution_marks.c.through_id).where(attribution_marks.c.arn == arn)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def advance(self, arn: str, mark: int, through_id: int, totals: Mapping[TotalKey, float]) -> bool:
        """Add ``totals`` (what the events after ``mark`` up to ``through_id`` measure) and move the mark, in
        one transaction; False, changing nothing, when the mark is no longer ``mark`` (counted elsewhere)."""
        with self._writer.begin() as conn:
            moved = conn.execute(
                attribution_marks.update()
                .where(attribution_marks.c.arn == arn, attribution_marks.c.through_id == mark)
                .values(through_id=through_id)
            )
            if moved.rowcount != 1:
                return False
            for (metric, event_type, function, source, hour), value in totals.items():
                self._add(conn, arn, Total(metric, event_type, function, source, hour, value))
            return True

    def _add(self, conn: Connection, arn: str, total: Total) -> None:
        t = attribution_totals
        stmt = dialect_insert(self._writer, t).values(arn=arn, **asdict(total))  # Total's fields are the columns
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.c.arn, t.c.metric, t.c.source, t.c.hour],
                set_={"value": t.c.value + stmt.excluded.value},
            )
        )
        d = attribution_dirty
        mark = dialect_insert(self._writer, d).values(arn=arn, hour=total.hour, changes=1)
        conn.execute(mark.on_conflict_do_update(index_elements=[d.c.arn, d.c.hour], set_={"changes": d.c.changes + 1}))

    def dirty_hours(self, arn: str) -> dict[int, int]:
        """hour -> change count of the hours whose totals changed since their file was written."""
        query = sa.select(attribution_dirty.c.hour, attribution_dirty.c.changes).where(attribution_dirty.c.arn == arn)
        with self.engine.connect() as conn:
            return {row.hour: row.changes for row in conn.execute(query)}

    def written(self, arn: str, hour: int, changes: int) -> None:
        """The hour's file holds its totals as of ``changes``; a change counted meanwhile keeps it dirty."""
        d = attribution_dirty
        with self._writer.begin() as conn:
            conn.execute(d.delete().where(d.c.arn == arn, d.c.hour == hour, d.c.changes == changes))

    def totals(self, arn: str, hour: int | None = None) -> list[Total]:
        """An attribution's totals (of one hour), by hour, metric and source."""
        t = attribution_totals
        query = sa.select(t).where(t.c.arn == arn)
        if hour is not None:
            query = query.where(t.c.hour == hour)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.c.hour, t.c.metric, t.c.source))
            return [Total(r.metric, r.event_type, r.function, r.source, r.hour, r.value) for r in rows]

    def forget_metrics(self, arn: str, metrics: Iterable[str]) -> None:
        """Drop the totals of metrics removed from an attribution (a metric added again starts from zero)."""
        names = list(metrics)
        if names:
            with self._writer.begin() as conn:
                t = attribution_totals
                conn.execute(t.delete().where(t.c.arn == arn, t.c.metric.in_(names)))

    def forget(self, arn: str, within: Connection | None = None) -> None:
        """Drop a deleted attribution's mark, totals and pending hours, in the transaction ``within`` when given."""
        with writing(self._writer, within) as conn:
            for table in (attribution_marks, attribution_totals, attribution_dirty):
                conn.execute(table.delete().where(table.c.arn == arn))
