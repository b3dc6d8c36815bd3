"""Dataset import jobs: CSV from S3 or local paths into a new immutable dataset snapshot (Describe/List: kinds.py)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..data.csv_import import CsvSource, ImportFailure, ImportResult, import_csv
from ..data.csv_parts import PartsResult, PartTask, import_in_parts, part_bytes, plan_parts
from ..data.schema import DatasetSchema
from ..errors import InvalidInputException
from ..jobs.executors import installed
from ..jobs.leftovers import remove_leftovers
from ..jobs.process_pool import WorkerError, default_processes
from ..jobs.runner import JobHandler
from ..store.metadata import Resource
from ..store.objects import PARTIAL_SNAPSHOTS, ObjectStoreError, failure_reason
from . import datasets, schemas
from .base import ACTIVE, CREATE_FAILED, Call, Control
from .kinds import DATASET, DATASET_IMPORT_JOB, queue_job
from .locations import LocationError, csv_sources, s3_client, source_location

log = logging.getLogger(__name__)

SWITCH_TRIES = 5  # builds an import may make while other jobs keep switching its dataset's snapshot

# Told of each import's new snapshot before it becomes the dataset's: (job, dataset, snapshot, previous snapshot).
Imported = Callable[[Control, Resource, Resource, Path, "Path | None"], None]


def create_dataset_import_job(call: Call) -> dict[str, Any]:
    p = call.params
    dataset = DATASET.get(call, p["datasetArn"])
    members = {
        "dataSource": {"dataLocation": source_location(p, call.control.settings.roots)},
        "importMode": p.get("importMode", "FULL"),
        "publishAttributionMetricsToS3": p.get("publishAttributionMetricsToS3", False),
    }
    return {"datasetImportJobArn": queue_job(call, DATASET_IMPORT_JOB, dataset, members)}


def run_import(control: Control, arn: str, imported: Imported | None = None) -> None:
    """Run one import job to ACTIVE or CREATE FAILED; the dataset switches snapshots only on success.

    Metadata values the import stored as missing are logged and kept on the job record.
    """
    store = control.store
    job = DATASET_IMPORT_JOB.start(control, arn)
    dataset = job and DATASET_IMPORT_JOB.parent_of(control, job, "The dataset was deleted before the import ran.")
    if job is None or dataset is None:
        return
    try:
        schema = schemas.load_schema(store.get(dataset.doc["schemaArn"]))
        sources = csv_sources(
            job.doc["dataSource"]["dataLocation"],
            control.settings.roots,
            lambda: s3_client(control.settings.s3_endpoint_url),
        )
        tasks = plan_parts(sources, part_bytes())
        for _ in range(SWITCH_TRIES):
            key, result = _build(control, job, dataset, sources, tasks, schema, imported)
            if _switch(control, job, dataset, key, result):
                break
            # another job (a data deletion, an import) switched the dataset meanwhile: build on its snapshot
            control.objects.remove_snapshot(key)
            dataset = DATASET_IMPORT_JOB.parent_of(control, job, "The dataset was deleted while the import ran.")
            if dataset is None:
                return
        else:
            raise ImportFailure(
                f"The dataset's data changed {SWITCH_TRIES} times while the import ran (other imports or data "
                "deletion jobs); retry once they are done."
            )
    except (ImportFailure, LocationError, InvalidInputException) as exc:
        store.update(arn, status=CREATE_FAILED, failureReason=str(exc))
        return
    except ObjectStoreError as exc:
        store.update(arn, status=CREATE_FAILED, failureReason=failure_reason(exc, arn, "store the imported data"))
        return
    if result.missing:
        log.warning(
            "Dataset import job %s into %s: values stored as missing (null): %s",
            arn,
            dataset.arn,
            missing_summary(result.missing),
        )


def _build(
    control: Control,
    job: Resource,
    dataset: Resource,
    sources: list[CsvSource],
    tasks: list[PartTask] | None,
    schema: DatasetSchema,
    imported: Imported | None,
) -> tuple[str, ImportResult | PartsResult]:
    """Write the import's new snapshot of ``dataset`` (an INCREMENTAL one on its current snapshot); its key."""
    if tasks is None:  # small: one pass in this process
        previous = datasets.snapshot_path(control, dataset)
        one_pass = import_csv(
            sources,
            schema,
            dataset.doc["datasetType"],
            control.objects.dataset_dir(dataset.arn),
            previous,
            job.doc["importMode"],
        )
        if imported is not None:
            imported(control, job, dataset, one_pass.snapshot, previous)
        return control.objects.publish(one_pass.snapshot), one_pass
    key, result = _import_in_parts(control, job, dataset, tasks, schema)
    if imported is not None and job.doc.get("publishAttributionMetricsToS3"):  # it reads the rows: fetch them
        snapshot = control.objects.local_path(key)
        imported(control, job, dataset, snapshot, datasets.snapshot_path(control, dataset))
    return key, result


def _switch(control: Control, job: Resource, dataset: Resource, key: str, result: ImportResult | PartsResult) -> bool:
    """Make ``key`` the dataset's snapshot and the job ACTIVE, unless the dataset left the snapshot the import read
    (``dataset``'s): a compare-and-set, so that a data deletion that ran meanwhile is never undone. Whether it did.

    One transaction: an import killed between the two writes was run again, and INCREMENTAL added its rows twice.
    """
    store = control.store
    with store.transaction() as conn:
        switched = store.update(
            dataset.arn,
            expect={"_snapshot": dataset.doc.get("_snapshot")},
            within=conn,
            _snapshot=key,
            _rows=result.total_rows,
            _snapshotId=uuid.uuid4().hex,
        )
        if switched is None:
            return False
        # kept on the job record (not in the API's shape) for a console to show
        store.update(job.arn, status=ACTIVE, within=conn, _rowsImported=result.rows, _missingValues=result.missing)
    return True


def _import_in_parts(
    control: Control, job: Resource, dataset: Resource, tasks: list[PartTask], schema: DatasetSchema
) -> tuple[str, PartsResult]:
    """A large import as tasks on the installed executor, each writing its part into a draft of the snapshot,
    committed once every part is in; the new key. The draft is discarded on any failure."""
    mode = job.doc["importMode"]
    kept = control.objects.snapshot_files(dataset.doc.get("_snapshot")) if mode.upper() == "INCREMENTAL" else []
    draft = control.objects.new_draft(dataset.arn)
    try:
        result = import_in_parts(
            tasks,
            schema,
            dataset.doc["datasetType"],
            draft,
            kept,
            mode,
            installed().ordered_map,
            default_processes(),
        )
        return control.objects.commit_draft(draft), result
    except WorkerError as exc:
        control.objects.discard_draft(draft)
        raise ImportFailure(f"An import task failed: {exc.message}") from None
    except (ImportFailure, ObjectStoreError):
        control.objects.discard_draft(draft)
        raise
    except Exception as exc:  # as the one pass words it: the log has the details
        control.objects.discard_draft(draft)
        log.exception("import job %s failed", job.arn)
        raise ImportFailure(f"Import failed ({type(exc).__name__}); the server log has the details") from exc
    except BaseException:
        control.objects.discard_draft(draft)
        raise


def missing_summary(missing: dict[str, dict[str, int]]) -> str:
    """``YEAR 13 (12 empty, 1 invalid); AGE 2 (2 invalid)``: per column, values stored as null and why."""
    parts = []
    for column, counts in missing.items():
        why = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
        parts.append(f"{column} {sum(counts.values())} ({why})")
    return "; ".join(parts)


def sweep_partial_snapshots(control: Control, running: set[str], before: float) -> None:
    """Remove the work directories of killed imports, keeping those of the ``running`` import jobs."""
    busy = set()
    for arn in running:
        job = control.store.get(arn)
        if job is not None:
            busy.add(control.objects.dataset_dir(job.doc["datasetArn"]))
    remove_leftovers(control.objects.datasets_root.glob(PARTIAL_SNAPSHOTS), lambda path: path.parent in busy, before)


def job_handlers(control: Control, imported: Imported | None = None) -> dict[str, JobHandler]:
    return {
        DATASET_IMPORT_JOB.kind: JobHandler(
            lambda arn: run_import(control, arn, imported),
            lambda arn, why: DATASET_IMPORT_JOB.fail(control, arn, why),
            lambda running, before: sweep_partial_snapshots(control, running, before),
        )
    }


OPERATIONS = {"CreateDatasetImportJob": create_dataset_import_job}
