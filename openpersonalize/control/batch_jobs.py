"""Batch inference jobs and batch segment jobs: JSON Lines in, JSON Lines out.

Every input file ``<path>`` under jobInput.s3DataSource.path (``sub/a.json``) yields
``<path>.out`` under jobOutput.s3DataDestination.path (``sub/a.json.out``), one output line per
input line, streamed. Scoring goes through the runtime's ``BatchSession`` and its line handlers
(``runtime/batch_lines.py``), so a batch line equals the runtime's answer; this module holds the
jobs' lifecycle and I/O.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from ..errors import InvalidInputException, ResourceNotFoundException
from ..filters import FilterValueError, UserCatalog, compile_user_filter, parse_filter
from ..filters.model import FilterExpr
from ..jobs.batch import BlockHandler, Workers, stream_jsonl_blocks
from ..jobs.process_pool import WorkerError
from ..jobs.runner import JobHandler
from ..recipes.registry import (
    PERSONALIZED_ACTIONS,
    USER_SEGMENTATION,
    get_recipe,
)
from ..runtime.batch_lines import inference_block_handler, segment_block_handler
from ..runtime.batch_session import BatchSession
from ..runtime.requests import MAX_RESULTS
from ..runtime.service import RuntimeService
from ..store.database_url import for_worker, shareable
from ..store.events import EventStore
from ..store.local_files import Roots
from ..store.metadata import MetadataStore, Resource
from .base import (
    ACTIVE,
    CREATE_FAILED,
    Call,
    Control,
    Settings,
)
from .exploration import check_exploration
from .kinds import BATCH_INFERENCE_JOB, BATCH_SEGMENT_JOB, FILTER, SOLUTION_VERSION, queue_job
from .locations import LocationError, check_location, data_sources, destination, local_path, s3_client
from .resource_lookup import StoredResourceLookup

log = logging.getLogger(__name__)

DEFAULT_RESULTS = 25
MAX_SEGMENT_RESULTS = 5_000_000
PROGRESS_SECONDS = 1.0
ITEM_AFFINITY = "arn:aws:personalize:::recipe/aws-item-affinity"
ITEM_ATTRIBUTE_AFFINITY = "arn:aws:personalize:::recipe/aws-item-attribute-affinity"


# --------------------------------------------------------------------------- requests
def _version(call: Call) -> Resource:
    version = SOLUTION_VERSION.get(call, call.params["solutionVersionArn"])
    if version.status != ACTIVE:
        raise InvalidInputException(f"Solution version {version.arn} is not ACTIVE (status: {version.status}).")
    return version


def _check_io(call: Call) -> tuple[str, str]:
    p, roots = call.params, call.control.settings.roots
    src = p["jobInput"]["s3DataSource"]["path"]
    dst = p["jobOutput"]["s3DataDestination"]["path"]
    check_location(src, roots, "jobInput.s3DataSource.path")
    check_location(dst, roots, "jobOutput.s3DataDestination.path")
    return src, dst


def _io_members(src: str, dst: str) -> dict[str, Any]:
    return {"jobInput": {"s3DataSource": {"path": src}}, "jobOutput": {"s3DataDestination": {"path": dst}}}


def _check_filter(call: Call, version: Resource) -> str | None:
    arn = call.params.get("filterArn")
    if arn:
        res = FILTER.get(call, arn)
        if res.doc["datasetGroupArn"] != version.doc["datasetGroupArn"]:
            raise InvalidInputException(f"filterArn {arn} belongs to another dataset group than the solution version.")
        if res.status != ACTIVE:
            raise InvalidInputException(f"filterArn {arn} is not ACTIVE: {res.doc.get('failureReason') or res.status}")
    return arn


def _job_filter(call: Call, version: Resource, target: str, job: str) -> tuple[str | None, FilterExpr | None]:
    """The request's filterArn (checked by ``_check_filter``) and its expression, which must select ``target``."""
    arn = _check_filter(call, version)
    if not arn:
        return None, None
    expr = parse_filter(call.store.get(arn).doc["filterExpression"])  # type: ignore[union-attr]
    if expr.target != target:
        raise InvalidInputException(f"filterArn {arn} is a filter of {expr.target}; {job} needs a {target} filter.")
    return arn, expr


def _num_results(call: Call, limit: int) -> int:
    k = call.params.get("numResults", DEFAULT_RESULTS)
    if not 1 <= k <= limit:
        raise InvalidInputException(f"numResults must be between 1 and {limit}, got {k}.")
    return k


def create_batch_inference_job(call: Call) -> dict[str, Any]:
    p = call.params
    mode = p.get("batchInferenceJobMode", "BATCH_INFERENCE")  # THEME_GENERATION: refused by api/member_support
    version = _version(call)
    recipe = get_recipe(version.doc["recipeArn"])
    if recipe is not None and recipe.recipe_type == USER_SEGMENTATION:
        raise InvalidInputException("This solution version segments users: use CreateBatchSegmentJob.")
    if recipe is not None and recipe.name == "aws-trending-now":
        raise InvalidInputException("Batch recommendations are not available for the Trending-Now recipe.")
    if recipe is not None and recipe.recipe_type == PERSONALIZED_ACTIONS:
        raise InvalidInputException(
            "Batch recommendations are not available for the Next-Best-Action recipe (as in Personalize): "
            "call GetActionRecommendations for each user."
        )
    src, dst = _check_io(call)
    config = dict(p.get("batchInferenceJobConfig") or {})
    check_exploration(config.get("itemExplorationConfig") or {}, "batchInferenceJobConfig.itemExplorationConfig")
    filter_arn, _ = _job_filter(call, version, "ItemID", "Batch inference")
    members = {
        "filterArn": filter_arn,
        "numResults": _num_results(call, MAX_RESULTS),
        **_io_members(src, dst),
        "batchInferenceJobConfig": config,
        "batchInferenceJobMode": mode,
    }
    return {"batchInferenceJobArn": queue_job(call, BATCH_INFERENCE_JOB, version, members)}


def create_batch_segment_job(call: Call) -> dict[str, Any]:
    version = _version(call)
    recipe = get_recipe(version.doc["recipeArn"])
    if recipe is None or recipe.recipe_type != USER_SEGMENTATION:
        raise InvalidInputException(
            "Batch segment jobs need a solution version of a USER_SEGMENTATION recipe "
            "(aws-item-affinity or aws-item-attribute-affinity)."
        )
    src, dst = _check_io(call)
    filter_arn, expr = _job_filter(call, version, "UserID", "A batch segment job")
    if expr is not None and expr.uses_interactions and version.doc["recipeArn"] == ITEM_ATTRIBUTE_AFFINITY:
        raise InvalidInputException(
            f"filterArn {filter_arn} filters on Interactions, which the Item-Attribute-Affinity recipe can't "
            "apply (as in Personalize); filter on Users fields instead."
        )
    members = {"filterArn": filter_arn, "numResults": _num_results(call, MAX_SEGMENT_RESULTS), **_io_members(src, dst)}
    return {"batchSegmentJobArn": queue_job(call, BATCH_SEGMENT_JOB, version, members)}


def _user_mask(control: Control, session: BatchSession, filter_arn: str | None) -> np.ndarray | None:
    if not filter_arn:
        return None
    res = control.store.get(filter_arn)
    if res is None:
        raise LocationError(f"Filter {filter_arn} no longer exists.")
    model = session.deployed.model
    user_ids = [str(u) for u in model.user_ids.tolist()]
    import pyarrow as pa

    users = session.deployed.users
    table = None
    if users:
        ids = list(users)
        cols = sorted({c for row in users.values() for c in row})
        table = pa.table({"USER_ID": ids, **{c: [users[i].get(c) for i in ids] for c in cols}})
    compiled = compile_user_filter(parse_filter(res.doc["filterExpression"]), UserCatalog(table, user_ids))
    interactions = None
    if compiled.uses_interactions:
        ptr = np.asarray(model.arrays["user_ptr"])
        owners = np.repeat(np.arange(len(user_ids)), np.diff(ptr))
        names = np.asarray(model.meta.get("event_names", [""]), dtype=object)
        interactions = (owners, names[np.asarray(model.arrays["hist_events"])])
    try:
        return compiled.mask({}, interactions)
    except FilterValueError as exc:
        raise LocationError(f"Filter {filter_arn}: {exc}") from None


# --------------------------------------------------------------------------- running
def output_name(top: str, source_name: str) -> str:
    """``<the input file's path below the input directory or prefix top>.out``, e.g. ``sub/a.json.out``.

    Personalize reads every file under an input prefix; keeping the relative path means ``a.json``
    and ``sub/a.json`` never write the same output. A single input file gives ``<its name>.out``.
    """
    below = top.rstrip("/") + "/"
    relative = source_name[len(below) :] if source_name.startswith(below) else PurePosixPath(source_name).name
    return relative + ".out"


def _input_top(location: str, roots: Roots) -> str:
    """The input location as its sources are named: an S3 URL as given, a local path resolved."""
    return location if location.startswith("s3://") else str(local_path(location, roots))


class _Progress:
    """Writes lines-done into the job document at most once a second (logged too)."""

    def __init__(self, control: Control, arn: str, base: int = 0) -> None:
        self.control, self.arn, self.base, self.last = control, arn, base, 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_SECONDS:
            self.last = now
            self.control.store.update(self.arn, _linesProcessed=self.base + done)
            log.info("%s: %d lines", self.arn, self.base + done)


def _outputs(control: Control, job: Resource, write_one: Callable[[Any, Any], dict[str, int]]) -> dict[str, int]:
    settings = control.settings
    s3 = _S3Factory(settings.s3_endpoint_url)
    location = job.doc["jobInput"]["s3DataSource"]["path"]
    sources = data_sources(location, settings.roots, s3)
    top = _input_top(location, settings.roots)
    place = destination(job.doc["jobOutput"]["s3DataDestination"]["path"], settings.roots, settings.s3_endpoint_url)
    totals = {"lines": 0, "errors": 0}
    for source in sources:
        out = place.open(output_name(top, source.name))
        try:
            stream = source.open()
            try:
                counts = write_one(stream, out)
            finally:
                stream.close()
            out.commit()
        except BaseException:
            out.discard()
            raise
        for key in totals:
            totals[key] += counts.get(key, 0)
    return totals


class _S3Factory:
    """One S3 client per job, created on first use."""

    def __init__(self, endpoint: str | None) -> None:
        self.endpoint, self.client = endpoint, None

    def __call__(self) -> Any:
        if self.client is None:
            self.client = s3_client(self.endpoint)
        return self.client


def _worker_handler(
    settings: Settings,
    database: str,
    version_arn: str,
    filter_arn: str | None,
    exploration: dict[str, Any] | None,
    k: int,
    influence: dict[str, float] | None = None,
) -> BlockHandler:
    """In a batch worker process: the job's block handler on a session of its own.

    The worker opens the metadata store and the memory-mapped model itself and reads the live
    events once at its start, so its lines equal the runtime's answers as the parent's would.
    ``database`` is the store's URL without its password (task arguments are visible on Ray); the
    worker's environment supplies the rest (``store/database_url.py``).
    """
    store = MetadataStore(for_worker(database))
    control = Control(settings, store, EventStore(store))
    service = RuntimeService(StoredResourceLookup(control), control.events)
    session = BatchSession(service, version_arn, filter_arn, exploration, live_snapshot=True, influence=influence)
    return inference_block_handler(session, k)


def inference_workers(control: Control, doc: dict[str, Any], k: int) -> Workers:
    """How a batch inference job's workers build their handler: the job's parameters, the store's URL without its
    password (on Ray these are task arguments, which the cluster's dashboard and state API show)."""
    config = doc.get("batchInferenceJobConfig") or {}
    kwargs = {
        "settings": control.settings,
        "database": shareable(control.store.url),
        "version_arn": doc["solutionVersionArn"],
        "filter_arn": doc.get("filterArn"),
        "exploration": config.get("itemExplorationConfig"),
        "k": k,
        "influence": config.get("rankingInfluence"),
    }
    return Workers(_worker_handler, kwargs)


def run_batch_inference(control: Control, runtime: RuntimeService, arn: str) -> None:
    """Run one batch inference job to ACTIVE or CREATE FAILED (see ``_answer_lines``)."""
    job = BATCH_INFERENCE_JOB.start(control, arn)
    if job is None:
        return

    def build() -> tuple[BlockHandler, Workers]:
        doc = job.doc
        config = doc.get("batchInferenceJobConfig") or {}
        exploration, influence = config.get("itemExplorationConfig"), config.get("rankingInfluence")
        k = int(doc.get("numResults") or DEFAULT_RESULTS)
        session = BatchSession(runtime, doc["solutionVersionArn"], doc.get("filterArn"), exploration, True, influence)
        return inference_block_handler(session, k), inference_workers(control, doc, k)

    _answer_lines(control, job, build)


def _segment_worker_handler(
    settings: Settings, database: str, version_arn: str, filter_arn: str | None, k: int
) -> BlockHandler:
    """In a batch worker process: a segment job's block handler on a session of its own (see ``_worker_handler``)."""
    store = MetadataStore(for_worker(database))
    control = Control(settings, store, EventStore(store))
    service = RuntimeService(StoredResourceLookup(control), control.events)
    session = BatchSession(service, version_arn, live_snapshot=True)
    return _segment_handler(control, session, version_arn, filter_arn, k)


def _segment_handler(
    control: Control, session: BatchSession, version_arn: str, filter_arn: str | None, k: int
) -> BlockHandler:
    """A segment job's block handler: item ids or an attribute expression per line, users of its filter."""
    version = control.store.get(version_arn)
    attribute = bool(version and version.doc.get("recipeArn") == ITEM_ATTRIBUTE_AFFINITY)
    return segment_block_handler(session, attribute, k, _user_mask(control, session, filter_arn))


def run_batch_segment(control: Control, runtime: RuntimeService, arn: str) -> None:
    """Run one batch segment job to ACTIVE or CREATE FAILED (see ``_answer_lines``)."""
    job = BATCH_SEGMENT_JOB.start(control, arn)
    if job is None:
        return

    def build() -> tuple[BlockHandler, Workers]:
        doc = job.doc
        k = int(doc.get("numResults") or DEFAULT_RESULTS)
        version_arn, filter_arn = doc["solutionVersionArn"], doc.get("filterArn")
        session = BatchSession(runtime, version_arn, live_snapshot=True)
        handle = _segment_handler(control, session, version_arn, filter_arn, k)
        kwargs = {"version_arn": version_arn, "filter_arn": filter_arn, "k": k}
        kwargs |= {"settings": control.settings, "database": shareable(control.store.url)}
        return handle, Workers(_segment_worker_handler, kwargs)

    _answer_lines(control, job, build)


def _answer_lines(control: Control, job: Resource, build: Callable[[], tuple[BlockHandler, Workers]]) -> None:
    """Answer every input file's lines with the handler ``build`` gives, each file into its output; the job's end.

    A small input is answered in this process; a large one on the installed executor's workers
    (this node's processes, one per CPU, or Ray tasks), which also keeps the server's own threads
    free for requests. Output lines keep the input's order.
    """
    arn = job.arn
    try:
        handle, workers = build()
        done = 0

        def write_one(stream: Any, out: Any) -> dict[str, int]:
            nonlocal done
            stats = stream_jsonl_blocks(stream, out.write, handle, _Progress(control, arn, done), workers)
            done += stats.lines
            return {"lines": stats.lines, "errors": stats.errors}

        totals = _outputs(control, job, write_one)
    except WorkerError as exc:
        log.error("%s: %s\n%s", arn, exc.message, exc.trace)
        control.store.update(arn, status=CREATE_FAILED, failureReason=exc.message)
        return
    except (LocationError, InvalidInputException, ResourceNotFoundException, OSError) as exc:
        control.store.update(arn, status=CREATE_FAILED, failureReason=_reason(exc))
        return
    control.store.update(arn, status=ACTIVE, _linesProcessed=totals["lines"], _lineErrors=totals["errors"])


def _reason(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def job_handlers(control: Control, runtime: RuntimeService) -> dict[str, JobHandler]:
    """Batch inference and batch segment job kinds (scored through ``runtime``)."""
    return {
        BATCH_INFERENCE_JOB.kind: JobHandler(
            lambda arn: run_batch_inference(control, runtime, arn),
            lambda arn, why: BATCH_INFERENCE_JOB.fail(control, arn, why),
        ),
        BATCH_SEGMENT_JOB.kind: JobHandler(
            lambda arn: run_batch_segment(control, runtime, arn),
            lambda arn, why: BATCH_SEGMENT_JOB.fail(control, arn, why),
        ),
    }


OPERATIONS = {
    "CreateBatchInferenceJob": create_batch_inference_job,
    "CreateBatchSegmentJob": create_batch_segment_job,
}
