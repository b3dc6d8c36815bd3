"""Data deletion jobs (remove users' data from a group), and the job table of exports (``dataset_export.py``) too."""

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
from ..store.objects import ObjectStoreError, new_snapshot
from . import datasets
from .base import Call, Control
from .dataset_export import create_dataset_export_job, run_export
from .kinds import (
    COMPLETED,
    DATA_DELETION_JOB,
    DATASET,
    DATASET_EXPORT_JOB,
    DATASET_GROUP,
    FAILED,
    queue_job,
)
from .locations import LocationError, data_sources, s3_client, source_location

log = logging.getLogger(__name__)

USER_DATASETS = ("INTERACTIONS", "USERS", "ACTION_INTERACTIONS")
CSV_BLOCK_BYTES = 1 << 20  # a deletion CSV is read this much at a time; no row may be longer


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
