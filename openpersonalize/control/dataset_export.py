"""Dataset export jobs: a dataset's rows as CSV under ``<path>/<jobName>/``, one task per part.

The snapshot's rows are cut into parts of ``part_rows()`` rows (row ranges over its Parquet row
groups, read from Parquet metadata alone); the rows PutEvents / PutItems / PutUsers / PutActions /
PutActionInteractions stored go at the end of the last part, as they did when the export was one
file. One part is ``<datasetType>.csv`` (written in the job's own thread); several are
``<datasetType>_part00000.csv``, ... each with its header row, written by the installed executor's
workers (``ordered_map``: this node's processes, or Ray tasks), each reading its row ranges from the
object store's copy of the snapshot and writing its file straight to the destination. Every part is
written into a staging area (``store/outputs.Staging``) and the set is moved into ``<jobName>/`` only
after the last part was written: the job is ACTIVE then, and a failed part leaves no CSV there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, suppress
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import InvalidInputException
from ..jobs.executors import installed
from ..jobs.process_pool import WorkerError, default_processes
from ..store.metadata import Resource
from ..store.objects import ObjectStore, ObjectStoreError, failure_reason
from ..store.outputs import Staging
from . import schemas
from .base import ACTIVE, CREATE_FAILED, Call, Control
from .kinds import DATASET, DATASET_EXPORT_JOB, queue_job
from .locations import LocationError, check_location, destination

OUTPUT_PATH = "jobOutput.s3DataDestination.path"
PART_ROWS_ENV = "OPENPERSONALIZE_EXPORT_PART_ROWS"
PART_ROWS = 1 << 20  # rows per part: an imported snapshot's row group, so a part reads whole row groups
RECORD_IDS = {"ITEMS": "ITEM_ID", "USERS": "USER_ID", "ACTIONS": "ACTION_ID"}


def create_dataset_export_job(call: Call) -> dict[str, Any]:
    p = call.params
    dataset = DATASET.get(call, p["datasetArn"])
    dst = p["jobOutput"]["s3DataDestination"]["path"]
    check_location(dst, call.control.settings.roots, OUTPUT_PATH)
    members = {"ingestionMode": p.get("ingestionMode", "BULK"), "jobOutput": {"s3DataDestination": {"path": dst}}}
    return {"datasetExportJobArn": queue_job(call, DATASET_EXPORT_JOB, dataset, members)}


def part_rows() -> int:
    """Rows per part: ``OPENPERSONALIZE_EXPORT_PART_ROWS`` (at least 1), else ``PART_ROWS``."""
    return max(1, int(os.environ.get(PART_ROWS_ENV) or PART_ROWS))


# --------------------------------------------------------------------------- parts
@dataclass(frozen=True)
class Piece:
    """Rows ``start:stop`` of row group ``row_group`` of the snapshot's ``file``-th Parquet file."""

    file: int
    row_group: int
    start: int
    stop: int


@dataclass(frozen=True)
class Part:
    """One output file: its name, its snapshot rows, the live rows at its end, its header when it has no rows."""

    name: str
    pieces: tuple[Piece, ...]
    live: pa.Table | None
    header: pa.Schema | None


def plan_parts(
    objects: ObjectStore, files: list[str], live: pa.Table | None, header: pa.Schema | None, base: str, rows: int
) -> list[Part]:
    """The snapshot ``files`` (paths in the store's file system) cut into parts of ``rows`` rows in order (from
    their Parquet footers alone), ``live`` at the end of the last one.

    One part is named ``<base>.csv``, several ``<base>_part00000.csv`` and on.
    """
    cuts: list[list[Piece]] = [[]]
    room = rows
    for index, path in enumerate(files):
        with objects.filesystem.open_input_file(path) as source:
            meta = pq.read_metadata(source)
        for group in range(meta.num_row_groups):
            size, start = meta.row_group(group).num_rows, 0
            while start < size:
                if room == 0:
                    cuts.append([])
                    room = rows
                take = min(size - start, room)
                cuts[-1].append(Piece(index, group, start, start + take))
                start, room = start + take, room - take
    names = [f"{base}.csv"] if len(cuts) == 1 else [f"{base}_part{n:05d}.csv" for n in range(len(cuts))]
    last = len(cuts) - 1
    return [Part(names[n], tuple(cut), live if n == last else None, header) for n, cut in enumerate(cuts)]


def part_writer(objects: ObjectStore, key: str | None, staging: Staging) -> Callable[[Part], int]:
    """In a worker (or the job's thread): writes a part into the staging area from the snapshot ``key``; its rows.

    The part's row groups are read straight from the object store (range reads on S3), never the whole snapshot.
    """
    files = objects.snapshot_files(key)

    def write(part: Part) -> int:
        out = staging.open(part.name)
        try:
            rows = write_csv(out.handle, _batches(objects, files, part), part.header)
            out.commit()
        except BaseException:
            out.discard()
            raise
        return rows

    return write


def _batches(objects: ObjectStore, files: list[str], part: Part) -> Iterator[pa.RecordBatch]:
    """The part's snapshot rows, a record batch at a time, then its live rows."""
    opened: dict[int, pq.ParquetFile] = {}
    with ExitStack() as stack:
        for piece in part.pieces:
            source = opened.get(piece.file)
            if source is None:
                handle = stack.enter_context(objects.filesystem.open_input_file(files[piece.file]))
                source = opened[piece.file] = pq.ParquetFile(handle)
            seen = 0
            for batch in source.iter_batches(row_groups=[piece.row_group]):
                lo, hi = max(piece.start - seen, 0), min(piece.stop - seen, batch.num_rows)
                if lo < hi:
                    yield batch.slice(lo, hi - lo)
                seen += batch.num_rows
                if seen >= piece.stop:
                    break
    if part.live is not None:
        yield from part.live.to_batches()


def write_csv(handle: BinaryIO, batches: Iterator[pa.RecordBatch], header: pa.Schema | None) -> int:
    """CSV with a header row (the first batch's columns, else ``header``'s; nothing without either); rows written."""
    options = pacsv.WriteOptions(include_header=True)
    writer, rows = None, 0
    for batch in batches:
        if writer is None:
            writer = pacsv.CSVWriter(handle, batch.schema, write_options=options)
        writer.write_batch(batch)
        rows += batch.num_rows
    if writer is None and header is not None:
        writer = pacsv.CSVWriter(handle, header, write_options=options)
    if writer is not None:
        writer.close()
    return rows


# --------------------------------------------------------------------------- live rows
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


def _live_table(control: Control, dataset: Resource) -> pa.Table | None:
    """The dataset's live rows conformed to its schema's columns (the snapshot's CSV header); None without any."""
    rows = _live_rows(control, dataset)
    if not rows:
        return None
    schema = schemas.load_schema(control.store.get(dataset.doc["schemaArn"])).arrow_schema()
    by_name = {name.upper(): name for name in schema.names}
    conformed = [{by_name[k.upper()]: v for k, v in row.items() if k.upper() in by_name} for row in rows]
    return pa.Table.from_pylist(conformed, schema=schema)


# --------------------------------------------------------------------------- the job
def run_export(control: Control, arn: str) -> None:
    """Write the dataset's rows as CSV under the output path (``<jobName>/<datasetType>[_partNNNNN].csv``)."""
    store = control.store
    job = DATASET_EXPORT_JOB.start(control, arn)
    dataset = job and DATASET_EXPORT_JOB.parent_of(control, job, "The dataset was deleted before the export ran.")
    if job is None or dataset is None:
        return
    settings = control.settings
    try:
        out = destination(job.doc["jobOutput"]["s3DataDestination"]["path"], settings.roots, settings.s3_endpoint_url)
        staging = out.staging(job.doc["jobName"])
        staging.clear()  # staging areas of a run killed before (this job on a node that died)
    except (LocationError, InvalidInputException, OSError) as exc:
        store.update(arn, status=CREATE_FAILED, failureReason=getattr(exc, "message", None) or str(exc))
        return
    try:
        rows = _write_parts(control, job, dataset, staging)
    except WorkerError as exc:
        _failed(control, arn, staging, exc.message)
        return
    except ObjectStoreError as exc:
        _failed(control, arn, staging, failure_reason(exc, arn, "read the dataset's stored data"))
        return
    except (LocationError, OSError, pa.ArrowException) as exc:
        _failed(control, arn, staging, getattr(exc, "message", None) or str(exc))
        return
    store.update(arn, status=ACTIVE, _rowsExported=rows)


def _write_parts(control: Control, job: Resource, dataset: Resource, staging: Staging) -> int:
    """Plan the parts, write each (here when there is one, else on the executor), publish them together; rows."""
    mode = job.doc.get("ingestionMode", "BULK")
    snapshot_key = dataset.doc.get("_snapshot")
    objects = control.objects
    files = objects.snapshot_files(snapshot_key)
    header = None
    if files:
        with objects.filesystem.open_input_file(files[0]) as first:
            header = pq.read_schema(first)
    live = _live_table(control, dataset) if mode in ("PUT", "ALL") else None
    bulk = mode in ("BULK", "ALL")
    parts = plan_parts(objects, files if bulk else [], live, header, dataset.doc["datasetType"].lower(), part_rows())
    kwargs = {"objects": objects, "key": snapshot_key if bulk else None, "staging": staging}
    if len(parts) == 1:
        rows = part_writer(**kwargs)(parts[0])
    else:
        workers = min(len(parts), default_processes())
        with closing(installed().ordered_map(part_writer, kwargs, parts, workers)) as written:
            rows = sum(written)
    staging.publish([part.name for part in parts])
    return rows


def _failed(control: Control, arn: str, staging: Staging, reason: str) -> None:
    """End the job CREATE FAILED, removing the parts staged so far (a removal that fails leaves hidden files only)."""
    with suppress(LocationError, OSError):
        staging.clear()
    control.store.update(arn, status=CREATE_FAILED, failureReason=f"Export failed: {reason}")
