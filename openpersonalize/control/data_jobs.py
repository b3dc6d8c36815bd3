"""Data deletion jobs (remove users' data from a group), and the job table of exports (``dataset_export.py``) too."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..data.csv_import import CsvSource
from ..errors import InvalidInputException, LimitExceededException
from ..jobs.runner import JobHandler
from ..store.metadata import Resource
from ..store.objects import ObjectStore, ObjectStoreError, failure_reason
from .base import Call, Control
from .dataset_export import create_dataset_export_job, run_export
from .import_jobs import SWITCH_TRIES
from .kinds import (
    COMPLETED,
    DATA_DELETION_JOB,
    DATASET,
    DATASET_EXPORT_JOB,
    DATASET_GROUP,
    FAILED,
    PENDING,
    queue_job,
)
from .locations import LocationError, data_sources, s3_client, source_location

log = logging.getLogger(__name__)

USER_DATASETS = ("INTERACTIONS", "USERS", "ACTION_INTERACTIONS")
CSV_BLOCK_BYTES = 1 << 20  # a deletion CSV is read this much at a time; no row may be longer
MAX_PENDING_DELETIONS = 5  # Personalize: "up to 5 deletion jobs with a status of PENDING for a dataset group"


# --------------------------------------------------------------------------- deletion
def create_data_deletion_job(call: Call) -> dict[str, Any]:
    group = DATASET_GROUP.get(call, call.params["datasetGroupArn"])
    members = {"dataSource": {"dataLocation": source_location(call.params, call.control.settings.roots)}}

    def pending_limit(siblings: list[Resource]) -> None:
        if sum(job.status == PENDING for job in siblings) >= MAX_PENDING_DELETIONS:
            raise LimitExceededException(
                f"Dataset group {group.arn} already has {MAX_PENDING_DELETIONS} PENDING data deletion jobs, "
                "the most it may have; retry once one has started."
            )

    return {"dataDeletionJobArn": queue_job(call, DATA_DELETION_JOB, group, members, pending_limit)}


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


def _snapshot_batches(
    objects: ObjectStore, files: list[str], columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """The stored snapshot ``files``' record batches, read from the store (range reads on S3), one file at a time."""
    for path in files:
        with objects.filesystem.open_input_file(path) as source:
            yield from pq.ParquetFile(source).iter_batches(columns=columns)


def remove_users(objects: ObjectStore, dataset: Resource, users: set[str]) -> tuple[str, int, int] | None:
    """Write a new snapshot of ``dataset`` without ``users``' rows; (its key, rows removed, rows kept), None when
    nothing changes.

    The snapshot is written as a draft of the store (``ObjectStore.new_draft``), discarded on failure:
    storing the key the draft commits to is what publishes it.
    """
    files = objects.snapshot_files(dataset.doc.get("_snapshot"))
    if not files or not users:
        return None
    wanted = pa.array(sorted(users), pa.string())
    removed = 0
    for batch in _snapshot_batches(objects, files, ["USER_ID"]):
        removed += int(pc.sum(pc.is_in(batch.column(0).cast(pa.string()), value_set=wanted)).as_py() or 0)
    if removed == 0:
        return None
    draft = objects.new_draft(dataset.arn)
    kept = 0
    try:
        name = f"part-{draft.token}.parquet"
        scratch = draft.scratch(name)
        writer = None
        for batch in _snapshot_batches(objects, files):
            keep = pc.invert(pc.is_in(batch.column("USER_ID").cast(pa.string()), value_set=wanted))
            part = batch.filter(keep)
            if writer is None:
                writer = pq.ParquetWriter(scratch, batch.schema, compression="snappy")
            writer.write_batch(part)
            kept += part.num_rows
        if writer is not None:
            writer.close()
            draft.put(name, scratch)
        return objects.commit_draft(draft), removed, kept
    except BaseException:
        objects.discard_draft(draft)
        raise


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
            if dataset.doc.get("datasetType") in USER_DATASETS:
                deleted += _remove_from_dataset(control, dataset, users)
        deleted += _delete_live(control, group, users)
    except ObjectStoreError as exc:
        store.update(arn, status=FAILED, failureReason=failure_reason(exc, arn, "read or store the dataset's data"))
        return
    except (LocationError, InvalidInputException, OSError, pa.ArrowException) as exc:
        store.update(arn, status=FAILED, failureReason=getattr(exc, "message", None) or str(exc))
        return
    store.update(arn, status=COMPLETED, numDeleted=deleted)


def _remove_from_dataset(control: Control, dataset: Resource, users: set[str]) -> int:
    """Switch ``dataset`` to a snapshot without ``users``' rows; the rows removed.

    The switch is a compare-and-set on the snapshot the rows were removed from: when an import switched the
    dataset meanwhile, the users are removed from its snapshot instead (an import's switch is one too, so
    neither undoes the other).
    """
    for _ in range(SWITCH_TRIES):
        result = remove_users(control.objects, dataset, users)
        if result is None:
            return 0
        key, removed, kept = result
        switch = {"_snapshot": key, "_rows": kept, "_snapshotId": uuid.uuid4().hex}
        if control.store.update(dataset.arn, expect={"_snapshot": dataset.doc.get("_snapshot")}, **switch):
            return removed
        control.objects.remove_snapshot(key)
        current = control.store.get(dataset.arn)
        if current is None:  # deleted meanwhile: its data went with it
            return 0
        dataset = current
    raise InvalidInputException(
        f"Dataset {dataset.arn} changed {SWITCH_TRIES} times while its users were removed (imports running); "
        "retry once they are done."
    )


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
