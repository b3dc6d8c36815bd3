"""Metric attribution reports: live events counted into per-hour totals, and the CSV files written from them.

When it runs: every ``MetricsClock`` interval (``serve --metrics-interval``, 60 s by default) each
server process queues a publication job for every ACTIVE metric attribution whose dataset group
has events it has not counted (or hours whose file is not written); the SQL job queue runs it on
one node. A publication counts the new events in batches (``AttributionStore.advance``: totals and
mark move in one transaction, so an event counts once however the job is interrupted), then
rewrites the file of every hour whose totals changed:
``<s3DataDestination.path>/AggregatedAttributionMetrics-PUT_EVENTS-<hour, YYYYmmddTHHMMSSZ>-<attribution name>.csv``
(the name keeps apart the files of attributions that share an output path, which would otherwise overwrite
one another's) with Personalize's columns METRIC_NAME, EVENT_TYPE, VALUE, MATH_FUNCTION,
EVENT_ATTRIBUTION_SOURCE, TIMESTAMP (the hour's start, epoch seconds). A file always holds the hour's complete
totals.

Imported interactions are Personalize's bulk data: an INTERACTIONS import job with
``publishAttributionMetricsToS3`` writes one file of the rows it imported,
``AggregatedAttributionMetrics-<FULL|INCREMENTAL>-<time>.csv``, when the group has an ACTIVE metric
attribution with an output path; rows imported before the attribution existed are never reported.
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ..data.csv_import import read_snapshot
from ..errors import InvalidInputException
from ..jobs.periodic import Periodic
from ..store.attribution import Total, TotalKey
from ..store.events import StoredEvent
from ..store.local_files import LocationError
from ..store.metadata import Resource
from . import datasets, schemas
from .attribution_metrics import Interaction, Metric, fold, loaded, sources_of
from .base import ACTIVE, Control
from .kinds import DATASET, METRIC_ATTRIBUTION
from .locations import destination

BATCH_EVENTS = 10_000
COLUMNS = ("METRIC_NAME", "EVENT_TYPE", "VALUE", "MATH_FUNCTION", "EVENT_ATTRIBUTION_SOURCE", "TIMESTAMP")
PREFIX = "AggregatedAttributionMetrics"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula
BULK_SOURCE_FIELDS = ("RECOMMENDATION_ID", "EVENT_ATTRIBUTION_SOURCE")
DEFAULT_INTERVAL_SECONDS = 60.0
OUTPUT_PATH = "metricsOutputConfig.s3DataDestination.path"


def _stamp(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


class ItemValues:
    """The Items columns ``metrics`` sum, per item (snapshot, then PutItems records), read on first use."""

    def __init__(self, control: Control, group_arn: str, metrics: Iterable[Metric]) -> None:
        self._control, self._group_arn = control, group_arn
        self._columns = sorted({m.column[1] for m in metrics if m.column and m.column[0] == "ITEMS"})
        self._rows: dict[str, dict[str, Any]] | None = None

    def _load(self) -> dict[str, dict[str, Any]]:
        found = self._control.store.children(self._group_arn, (DATASET.kind,))
        dataset = next((d for d in found if d.doc.get("datasetType") == "ITEMS"), None)
        schema = dataset and self._control.store.get(dataset.doc["schemaArn"])
        # an Items dataset re-created without a summed column: that metric sums nothing, the others count on
        names = set(schemas.load_schema(schema).names) if schema else set()
        columns = [c for c in self._columns if c in names]
        if dataset is None or not columns:
            return {}
        snapshot = datasets.snapshot_path(self._control, dataset)
        table = read_snapshot(snapshot, ["ITEM_ID", *columns])
        rows = {str(r.pop("ITEM_ID")): r for r in table.to_pylist()} if table is not None else {}
        for record in self._control.events.records(dataset.arn):
            rows.setdefault(record["id"], {}).update(record["properties"])
        return rows

    def value(self, item_id: str, column: str) -> float | None:
        if self._rows is None:
            self._rows = self._load()
        value = self._rows.get(item_id, {}).get(column)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _live(event: StoredEvent) -> Interaction:
    return Interaction(
        event.event_type,
        event.item_id,
        event.timestamp,
        event.event_value,
        event.properties or {},
        event.recommendation_id,
        event.attribution_source,
    )


def _text(cell: str) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula (CSV injection: sources and event types
    come from PutEvents): one starting with = + - @, a tab or a carriage return gets a ' before it."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _csv(totals: Iterable[Total]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for t in totals:
        value = repr(float(t.value))
        writer.writerow((_text(t.metric), _text(t.event_type), value, _text(t.function), _text(t.source), t.hour))
    return out.getvalue().encode()


def _destination(attribution: Resource) -> str | None:
    return ((attribution.doc.get("metricsOutputConfig") or {}).get("s3DataDestination") or {}).get("path")


def _write(control: Control, location: str, name: str, body: bytes) -> None:
    settings = control.settings
    output = destination(location, settings.roots, settings.s3_endpoint_url, OUTPUT_PATH).open(name)
    try:
        output.write(body)
    except BaseException:
        output.discard()
        raise
    output.commit()


def _report_failure(control: Control, attribution: Resource, reason: str | None) -> None:
    """Show (or clear) why the attribution's last report could not be written, as its failureReason."""
    if attribution.doc.get("failureReason") != reason:
        control.store.update(attribution.arn, failureReason=reason)


def _metrics_now(control: Control, arn: str) -> list[Metric] | None:
    """The attribution's metrics as they are now (None: it was deleted)."""
    attribution = control.store.get(arn)
    return loaded(attribution.doc) if attribution is not None else None


def count_events(control: Control, attribution: Resource) -> None:
    """Count the group's events past the attribution's mark into its totals, a batch per transaction.

    A batch counts the metrics read before it; one UpdateMetricAttribution removed or redefined meanwhile
    (forgetting its totals) is forgotten again once the batch is in, so its old totals never come back.
    """
    store, arn, group = control.attribution, attribution.arn, attribution.doc["datasetGroupArn"]
    metrics = loaded(attribution.doc)
    items = ItemValues(control, group, metrics)
    while (mark := store.mark(arn)) is not None:
        events = control.events.events_since(group, mark, limit=BATCH_EVENTS)
        if not events:
            return
        interactions = [_live(e) for e in events]
        totals = fold(metrics, interactions, sources_of(interactions, store.sources), items.value)
        if not store.advance(arn, mark, events[-1].id, totals):
            return  # another node counted them meanwhile
        current = _metrics_now(control, arn)
        if current is None:
            return
        if current != metrics:
            store.forget_metrics(arn, sorted({m.name for m in metrics if m not in current}))
            metrics, items = current, ItemValues(control, group, current)


def write_hours(control: Control, attribution: Resource) -> None:
    """Rewrite the file of every hour whose totals changed (none without an output path)."""
    store, arn = control.attribution, attribution.arn
    location = _destination(attribution)
    for hour, changes in sorted(store.dirty_hours(arn).items()):
        if location is not None:
            try:
                name = f"{PREFIX}-PUT_EVENTS-{_stamp(hour)}-{attribution.name}.csv"
                _write(control, location, name, _csv(store.totals(arn, hour)))
            except (LocationError, InvalidInputException) as exc:
                _report_failure(control, attribution, f"Cannot write the metrics of {_stamp(hour)}: {exc}")
                return
        store.written(arn, hour, changes)
    _report_failure(control, attribution, None)


def publish(control: Control, arn: str) -> None:
    """The publication job: a new attribution becomes ACTIVE; new events are counted and their hours written."""
    attribution = control.store.get(arn)
    if attribution is None or attribution.kind != METRIC_ATTRIBUTION.kind:
        return
    if METRIC_ATTRIBUTION.unfinished(attribution):
        attribution = control.store.update(arn, status=ACTIVE, only_if=METRIC_ATTRIBUTION.status.unfinished)
    if attribution is None or attribution.status != ACTIVE:
        return
    count_events(control, attribution)
    write_hours(control, attribution)


def has_work(control: Control, attribution: Resource) -> bool:
    """Whether the attribution has events to count or hours to write."""
    mark = control.attribution.mark(attribution.arn)
    if mark is None:
        return False
    newest = control.events.max_event_id(attribution.doc["datasetGroupArn"])
    return newest > mark or bool(control.attribution.dirty_hours(attribution.arn))


class MetricsClock(Periodic):
    """Queues a publication job for each ACTIVE metric attribution with work, every ``interval`` seconds."""

    def __init__(self, control: Control, interval: float = DEFAULT_INTERVAL_SECONDS) -> None:
        super().__init__("metric-attribution-clock", interval, self.tick)
        self.control = control

    def tick(self) -> None:
        control = self.control
        queued = False
        for attribution in control.store.list(METRIC_ATTRIBUTION.kind):
            if attribution.status == ACTIVE and has_work(control, attribution):
                queued |= control.store.enqueue_if_idle(attribution.arn, METRIC_ATTRIBUTION.kind)
        if queued:
            control.wake_jobs()


# -- bulk data: import jobs ------------------------------------------------------------------------
def _imported_batches(snapshot: Path, previous: Path | None, columns: set[str]) -> Iterator[list[Interaction]]:
    """The interactions an import added (the snapshot's files the previous snapshot did not have), in
    record batches, reading only ``columns`` and the fields attribution needs."""
    before = {p.name for p in previous.glob("*.parquet")} if previous is not None else set()
    wanted = columns | {"EVENT_TYPE", "ITEM_ID", "TIMESTAMP", "EVENT_VALUE", *BULK_SOURCE_FIELDS}
    for path in sorted(snapshot.glob("*.parquet")):
        if path.name in before:
            continue
        file = pq.ParquetFile(path)
        present = [name for name in file.schema_arrow.names if name in wanted]
        for batch in file.iter_batches(columns=present):
            yield [
                Interaction(
                    str(r.get("EVENT_TYPE") or ""),
                    None if r.get("ITEM_ID") is None else str(r["ITEM_ID"]),
                    float(r.get("TIMESTAMP") or 0),
                    r.get("EVENT_VALUE"),
                    r,
                    r.get("RECOMMENDATION_ID"),
                    r.get("EVENT_ATTRIBUTION_SOURCE"),
                )
                for r in batch.to_pylist()
            ]


def _group_attribution(control: Control, group_arn: str) -> Resource | None:
    found = control.store.children(group_arn, (METRIC_ATTRIBUTION.kind,))
    return next((a for a in found if a.status == ACTIVE), None)


def report_import(control: Control, job: Resource, dataset: Resource, snapshot: Path, previous: Path | None) -> None:
    """After an INTERACTIONS import with publishAttributionMetricsToS3: one report of the rows it imported.

    A report that cannot be written shows as the attribution's failureReason; the import succeeds anyway.
    """
    if not job.doc.get("publishAttributionMetricsToS3") or dataset.doc.get("datasetType") != "INTERACTIONS":
        return
    attribution = _group_attribution(control, dataset.doc["datasetGroupArn"])
    location = attribution and _destination(attribution)
    if attribution is None or location is None:
        return
    metrics = loaded(attribution.doc)
    items = ItemValues(control, dataset.doc["datasetGroupArn"], metrics)
    columns = {m.column[1] for m in metrics if m.column and m.column[0] == "INTERACTIONS"}
    totals: dict[TotalKey, float] = defaultdict(float)
    for batch in _imported_batches(snapshot, previous, columns):
        sources = sources_of(batch, control.attribution.sources)
        for key, value in fold(metrics, batch, sources, items.value).items():
            totals[key] += value
    name = f"{PREFIX}-{job.doc.get('importMode', 'FULL')}-{_stamp(time.time())}.csv"
    try:
        _write(control, location, name, _csv(_sorted(totals)))
    except (LocationError, InvalidInputException) as exc:
        _report_failure(control, attribution, f"Cannot write the metrics of import job {job.arn}: {exc}")
        return
    _report_failure(control, attribution, None)


def _sorted(totals: dict[TotalKey, float]) -> list[Total]:
    rows = [Total(m, e, f, s, h, v) for (m, e, f, s, h), v in totals.items()]
    return sorted(rows, key=lambda t: (t.hour, t.metric, t.source))
