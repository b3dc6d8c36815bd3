"""Dataset export jobs (dataset -> CSV) and data deletion jobs (remove users' data from a group)."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..data.csv_import import CsvSource, iter_snapshot_batches
from ..errors import InvalidInputException
from ..jobs.runner import JobHandler
from ..store.metadata import Resource
from ..store.objects import ObjectStoreError, new_snapshot
from . import datasets, schemas
from .base import ACTIVE, CREATE_FAILED, Call, Control
from .kinds import (
    COMPLETED,
    DATA_DELETION_JOB,
    DATASET,
    DATASET_EXPORT_JOB,
    DATASET_GROUP,
    FAILED,
    queue_job,
)
from .locations import LocationError, check_location, data_sources, open_output, s3_client, source_location

log = logging.getLogger(__name__)

USER_DATASETS = ("INTERACTIONS", "USERS", "ACTION_INTERACTIONS")
RECORD_IDS = {"ITEMS": "ITEM_ID", "USERS": "USER_ID", "ACTIONS": "ACTION_ID"}
CSV_BLOCK_BYTES = 1 << 20  # a deletion CSV is read this much at a time; no row may be longer


# --------------------------------------------------------------------------- export
def create_dataset_export_job(call: Call) -> dict[str, Any]:
    p = call.params
    dataset = DATASET.get(call, p["datasetArn"])
    dst = p["jobOutput"]["s3DataDestination"]["path"]
    check_location(dst, call.control.settings.roots, "jobOutput.s3DataDestination.path")
    members = {"ingestionMode": p.get("ingestionMode", "BULK"), "jobOutput": {"s3DataDestination": {"path": dst}}}
    return {"datasetExportJobArn": queue_job(call, DATASET_EXPORT_JOB, dataset, members)}


def _live_rows(control: Control, dataset: Resource) -> list[dict[str, Any]]:
    """What PutEvents / PutItems / PutUsers / PutActions / PutActionInteractions stored for the dataset, as rows
    keyed by schema field name."""
    events = control.events
    kind = dataset.doc["datasetType"]
    if kind == "ACTION_INTERACTIONS":
        return events.actions.table(dataset.doc["datasetGroupArn"]).to_pylist()
    if kind != "INTERACTIONS":
        return [{RECORD_IDS[kind]: r["id"], **r["properties"]} for r in events.records(dataset.arn)]
    rows = []
    for e in events.group_events(dataset.doc["datasetGroupArn"]):
        if e.user_id is None or e.item_id is None:
            continue  # unclaimed sessions and item-less events are not interactions of a user yet
        rows.append(
            {
                **(e.properties or {}),
                "USER_ID": e.user_id,
                "ITEM_ID": e.item_id,
                "EVENT_TYPE": e.event_type,
                "EVENT_VALUE": e.event_value,
                "TIMESTAMP": int(e.timestamp),
                "IMPRESSION": "|".join(e.impression) if e.impression else None,
                "RECOMMENDATION_ID": e.recommendation_id,
                "EVENT_ATTRIBUTION_SOURCE": e.attribution_source,
            }
        )
    return rows


def _live_batches(control: Control, dataset: Resource) -> list[pa.RecordBatch]:
    """The dataset's live rows conformed to its schema's columns (the snapshot's CSV header)."""
    rows = _live_rows(control, dataset)
    if not rows:
        return []
    schema = schemas.load_schema(control.store.get(dataset.doc["schemaArn"])).arrow_schema()
    by_name = {name.upper(): name for name in schema.names}
    conformed = [{by_name[k.upper()]: v for k, v in row.items() if k.upper() in by_name} for row in rows]
    return pa.Table.from_pylist(conformed, schema=schema).to_batches()


def run_export(control: Control, arn: str) -> None:
    """Write the dataset's rows as CSV under the output path: ``<jobName>/<datasetType>.csv``."""
    store = control.store
    job = DATASET_EXPORT_JOB.start(control, arn)
    dataset = job and DATASET_EXPORT_JOB.parent_of(control, job, "The dataset was deleted before the export ran.")
    if job is None or dataset is None:
        return
    mode = job.doc.get("ingestionMode", "BULK")
    name = f"{job.doc['jobName']}/{dataset.doc['datasetType'].lower()}.csv"
    settings = control.settings
    try:
        out = open_output(
            job.doc["jobOutput"]["s3DataDestination"]["path"],
            name,
            settings.roots,
            lambda: s3_client(settings.s3_endpoint_url),
        )
    except (LocationError, InvalidInputException, OSError) as exc:
        store.update(arn, status=CREATE_FAILED, failureReason=getattr(exc, "message", None) or str(exc))
        return
    rows = 0
    try:
        snapshot = datasets.snapshot_path(control, dataset)
        batches: Any = iter_snapshot_batches(snapshot) if mode in ("BULK", "ALL") else iter(())
        live = _live_batches(control, dataset) if mode in ("PUT", "ALL") else []
        writer = None
        options = pacsv.WriteOptions(include_header=True)
        for batch in _chain(batches, live):
            if writer is None:
                writer = pacsv.CSVWriter(out.handle, batch.schema, write_options=options)
            writer.write_batch(batch)
            rows += batch.num_rows
        if writer is None:
            schema = pq.read_schema(next(iter(sorted(snapshot.glob("*.parquet"))))) if snapshot else None
            if schema is not None:
                pacsv.CSVWriter(out.handle, schema, write_options=options).close()
        else:
            writer.close()
        out.commit()
    except (LocationError, OSError, pa.ArrowException) as exc:
        out.discard()
        store.update(arn, status=CREATE_FAILED, failureReason=f"Export failed: {exc}")
        return
    store.update(arn, status=ACTIVE, _rowsExported=rows)


def _chain(first: Any, second: list[pa.RecordBatch]) -> Any:
    yield from first
    yield from second


# --------------------------------------------------------------------------- deletion
def create_data_deletion_job(call: Call) -> dict[str, Any]:
    group = DATASET_GROUP.get(call, call.params["datasetGroupArn"])
    members = {"dataSource": {"dataLocation": source_location(call.params, call.control.settings.roots)}}
    return {"dataDeletionJobArn": queue_job(call, DATA_DELETION_JOB, group, members)}


def read_user_ids(control: Control, location: str) -> set[str]:
    """The USER_ID column of every CSV at ``location`` (a header row naming USER_ID is required).

    Each file is streamed ``CSV_BLOCK_BYTES`` at a time (its header first, then the USER_ID column):
    only the set of ids is kept, and a row longer than a block (a huge file without a line end) fails
    the job instead of being buffered.
    """
    settings = control.settings
    users: set[str] = set()
    for source in data_sources(location, settings.roots, lambda: s3_client(settings.s3_endpoint_url), (".csv",)):
        try:
            column = _user_id_column(source)
            users.update(_column_values(source, column))
        except pa.ArrowInvalid as exc:
            raise LocationError(f"{source.name}: not a readable CSV: {_without_row(exc)}") from None
    return users


def _csv_reader(stream: Any, column: str | None) -> pacsv.CSVStreamingReader:
    """A streaming CSV reader; with ``column``, of that column only, read as strings."""
    convert = pacsv.ConvertOptions(column_types={column: pa.string()}, include_columns=[column]) if column else None
    return pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES), convert_options=convert)


def _user_id_column(source: CsvSource) -> str:
    """The header's USER_ID column, whatever its case (read from the file's first block only)."""
    stream = source.open()
    try:
        names = _csv_reader(stream, None).schema.names
    finally:
        stream.close()
    column = next((c for c in names if c.upper() == "USER_ID"), None)
    if column is None:
        raise LocationError(f"{source.name}: the CSV needs a USER_ID column.")
    return column


def _column_values(source: CsvSource, column: str) -> Iterator[str]:
    """The non-null values of ``column``, block by block (the other columns are never converted)."""
    stream = source.open()
    try:
        for batch in _csv_reader(stream, column):
            yield from (u for u in batch.column(0).to_pylist() if u is not None)
    finally:
        stream.close()


def _without_row(exc: pa.ArrowInvalid) -> str:
    """Arrow's CSV error less the offending row it ends with ("CSV parse error: Expected 1 columns, got 3: <row>").

    A failure message never echoes file content.
    """
    return ": ".join(str(exc).split(": ")[:2])


def remove_users(snapshot: Path | None, dest_dir: Path, users: set[str]) -> tuple[Path, int, int] | None:
    """Write a new snapshot without ``users``' rows; (path, rows removed, rows kept), None when nothing changes."""
    if snapshot is None or not users:
        return None
    wanted = pa.array(sorted(users), pa.string())
    removed = 0
    for batch in iter_snapshot_batches(snapshot, ["USER_ID"]):
        removed += int(pc.sum(pc.is_in(batch.column(0).cast(pa.string()), value_set=wanted)).as_py() or 0)
    if removed == 0:
        return None
    work, final, token = new_snapshot(dest_dir)
    kept = 0
    try:
        writer = None
        for batch in iter_snapshot_batches(snapshot):
            keep = pc.invert(pc.is_in(batch.column("USER_ID").cast(pa.string()), value_set=wanted))
            part = batch.filter(keep)
            if writer is None:
                writer = pq.ParquetWriter(work / f"part-{token}.parquet", batch.schema, compression="snappy")
            writer.write_batch(part)
            kept += part.num_rows
        if writer is not None:
            writer.close()
        os.rename(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final, removed, kept


def run_deletion(control: Control, arn: str) -> None:
    """Remove the listed users from the group's Interactions and Users snapshots and from live events."""
    store = control.store
    job = DATA_DELETION_JOB.start(control, arn)
    if job is None:
        return
    group = job.doc["datasetGroupArn"]
    try:
        users = read_user_ids(control, job.doc["dataSource"]["dataLocation"])
        deleted = 0
        for dataset in store.children(group, (DATASET.kind,)):
            if dataset.doc.get("datasetType") not in USER_DATASETS:
                continue
            result = remove_users(
                datasets.snapshot_path(control, dataset), control.objects.dataset_dir(dataset.arn), users
            )
            if result is None:
                continue
            path, removed, kept = result
            store.update(dataset.arn, _snapshot=control.objects.publish(path), _rows=kept, _snapshotId=uuid.uuid4().hex)
            deleted += removed
        deleted += _delete_live(control, group, users)
    except (LocationError, InvalidInputException, OSError, pa.ArrowException, ObjectStoreError) as exc:
        store.update(arn, status=FAILED, failureReason=getattr(exc, "message", None) or str(exc))
        return
    store.update(arn, status=COMPLETED, numDeleted=deleted)


def _delete_live(control: Control, group: str, users: set[str]) -> int:
    """Delete the users' live events and PutUsers records; the number of events removed."""
    if not users:
        return 0
    users_dataset = next(
        (d.arn for d in control.store.children(group, (DATASET.kind,)) if d.doc.get("datasetType") == "USERS"), None
    )
    return control.events.delete_users(group, sorted(users), users_dataset)


def job_handlers(control: Control) -> dict[str, JobHandler]:
    """Export and deletion job kinds."""
    return {
        DATASET_EXPORT_JOB.kind: JobHandler(
            lambda arn: run_export(control, arn), lambda arn, why: DATASET_EXPORT_JOB.fail(control, arn, why)
        ),
        DATA_DELETION_JOB.kind: JobHandler(
            lambda arn: run_deletion(control, arn), lambda arn, why: DATA_DELETION_JOB.fail(control, arn, why)
        ),
    }


OPERATIONS = {
    "CreateDatasetExportJob": create_dataset_export_job,
    "CreateDataDeletionJob": create_data_deletion_job,
}
