"""Batch inference jobs and batch segment jobs: JSON Lines in, JSON Lines out.

Every input file ``<name>`` under jobInput.s3DataSource.path yields ``<name>.out`` under
jobOutput.s3DataDestination.path, one output line per input line, streamed. Scoring goes
through the runtime's ``BatchSession`` (``runtime/batch_session.py``), so a batch line equals the
runtime's answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from ..errors import InvalidInputException, ResourceNotFoundException
from ..filters import FilterSyntaxError, FilterValueError, UserCatalog, compile_user_filter, parse_filter
from ..filters.attributes import UnknownFieldError, attribute_items
from ..jobs.batch import BlockHandler, LineError, Workers, dump_line, iter_lines, parse_line, stream_jsonl_blocks
from ..jobs.process_pool import WorkerError
from ..jobs.runner import JobHandler
from ..recipes.registry import (
    PERSONALIZED_RANKING,
    RELATED_ITEMS,
    USER_PERSONALIZATION,
    USER_SEGMENTATION,
    get_recipe,
)
from ..runtime.batch_session import BatchSession
from ..runtime.requests import MAX_RESULTS
from ..runtime.scoring import Ranked, public_scores, top_k_of, top_k_rows
from ..runtime.service import RuntimeService
from ..store.events import EventStore
from ..store.metadata import MetadataStore, Resource
from .base import (
    ACTIVE,
    CREATE_FAILED,
    Call,
    Control,
    Settings,
)
from .kinds import BATCH_INFERENCE_JOB, BATCH_SEGMENT_JOB, FILTER, SOLUTION_VERSION, queue_job
from .locations import LocationError, check_location, data_sources, open_output, s3_client
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
    return arn


def _num_results(call: Call, limit: int) -> int:
    k = call.params.get("numResults", DEFAULT_RESULTS)
    if not 1 <= k <= limit:
        raise InvalidInputException(f"numResults must be between 1 and {limit}, got {k}.")
    return k


def create_batch_inference_job(call: Call) -> dict[str, Any]:
    p = call.params
    mode = p.get("batchInferenceJobMode", "BATCH_INFERENCE")
    if mode == "THEME_GENERATION" or p.get("themeGenerationConfig"):
        raise InvalidInputException(
            "batchInferenceJobMode THEME_GENERATION is not supported by this server (it needs a generative "
            "model); use BATCH_INFERENCE."
        )
    version = _version(call)
    recipe = get_recipe(version.doc["recipeArn"])
    if recipe is not None and recipe.recipe_type == USER_SEGMENTATION:
        raise InvalidInputException("This solution version segments users: use CreateBatchSegmentJob.")
    if recipe is not None and recipe.name == "aws-trending-now":
        raise InvalidInputException("Batch recommendations are not available for the Trending-Now recipe.")
    src, dst = _check_io(call)
    config = dict(p.get("batchInferenceJobConfig") or {})
    if config.get("rankingInfluence"):
        raise InvalidInputException("batchInferenceJobConfig.rankingInfluence is not supported by this server.")
    members = {
        "filterArn": _check_filter(call, version),
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
    filter_arn = _check_filter(call, version)
    if filter_arn:
        expr = parse_filter(call.store.get(filter_arn).doc["filterExpression"])  # type: ignore[union-attr]
        if expr.target != "UserID":
            raise InvalidInputException("A batch segment job's filter must select UserID.")
    members = {"filterArn": filter_arn, "numResults": _num_results(call, MAX_SEGMENT_RESULTS), **_io_members(src, dst)}
    return {"batchSegmentJobArn": queue_job(call, BATCH_SEGMENT_JOB, version, members)}


# --------------------------------------------------------------------------- line handlers
def _string(line: dict[str, Any], key: str) -> str:
    value = line.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise LineError(f"{key} is required and must be a non-empty string.")
    return value


def _filter_values(line: dict[str, Any]) -> dict[str, str] | None:
    values = line.get("filterValues")
    if values is None:
        return None
    if not isinstance(values, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
        raise LineError("filterValues must be an object of string values.")
    return values


def inference_handler(session: BatchSession, k: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The per-line answer for the session's recipe type (user, related items or ranking)."""
    kind = session.recipe_type

    def handle(line: dict[str, Any]) -> dict[str, Any]:
        try:
            values = _filter_values(line)
            if kind == PERSONALIZED_RANKING:
                ranked = session.rank(_string(line, "userId"), _item_list(line), values)
                return {"recommendedItems": ranked.item_ids, "scores": ranked.padded_scores()}
            if kind == RELATED_ITEMS:
                ranked = session.recommend(None, _string(line, "itemId"), k, values)
            else:
                ranked = session.recommend(_string(line, "userId"), None, k, values)
        except (InvalidInputException, ResourceNotFoundException) as exc:
            raise LineError(exc.message) from None
        return {"recommendedItems": [i for i, _ in ranked], "scores": [s for _, s in ranked]}

    return handle


SCORE_ROWS = 64  # users scored together: a float32 block of SCORE_ROWS x n_items (16 MB at 62k items)


def _item_list(line: dict[str, Any]) -> list[str]:
    items = line.get("itemList")
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise LineError("itemList is required and must be a non-empty list of item ids.")
    if len(items) > MAX_RESULTS:
        raise LineError(f"itemList must hold at most {MAX_RESULTS} items, got {len(items)}.")
    return items


def inference_block_handler(session: BatchSession, k: int) -> BlockHandler:
    """Answers a block of lines at once with the same results as ``inference_handler`` line by line.

    User lines (USER_PERSONALIZATION, PERSONALIZED_RANKING) are scored ``SCORE_ROWS`` at a time with
    ``score_users`` and ranked with ``top_k_rows``; each line keeps its own filterValues mask and a line
    that fails still yields its error. Without a filter, the head of a user's ranking from the model's
    ``best_items`` spares scoring the whole catalogue. RELATED_ITEMS lines are answered
    one by one.
    """
    kind = session.recipe_type
    single = inference_handler(session, k)
    deployed = session.deployed

    def one_by_one(lines: list[dict[str, Any]]) -> list[dict[str, Any] | LineError]:
        out: list[dict[str, Any] | LineError] = []
        for line in lines:
            try:
                out.append(single(line))
            except LineError as exc:
                out.append(exc)
        return out

    def score(out: list[Any], todo: list[tuple[int, str, dict[str, str] | None, list[str] | None]]) -> None:
        histories = [session.history(user) for _, user, _, _ in todo]
        scores = deployed.model.score_users(histories, dict(session.context))
        rows, masks = [], []
        for row, ((slot, user, values, _), history) in enumerate(zip(todo, histories, strict=True)):
            try:
                mask = session.mask(values, user, history)
            except (InvalidInputException, ResourceNotFoundException) as exc:
                out[slot] = LineError(exc.message)
                continue
            rows.append(row)
            masks.append(mask)
        if kind == PERSONALIZED_RANKING:
            for row, mask in zip(rows, masks, strict=True):
                slot, _, _, items = todo[row]
                ranked = deployed.rank(scores[row], items or [], mask)
                out[slot] = {"recommendedItems": ranked.item_ids, "scores": ranked.padded_scores()}
            return
        block = scores if len(rows) == len(scores) else scores[rows]
        ranked = top_k_rows(block, k, masks if session.filter is not None else None)
        for row, best in zip(rows, ranked, strict=True):
            out[todo[row][0]] = recommended(best)

    def recommended(best: Ranked) -> dict[str, Any]:
        return {
            "recommendedItems": [deployed.item_ids[i] for i in best.indices.tolist()],
            "scores": public_scores(best.scores),
        }

    def from_heads(out: list[Any], todo: list[tuple[int, str, dict[str, str] | None, list[str] | None]]) -> list:
        """Answer the lines whose top k lies in the model's ranking head (``best_items``); return the others."""
        best_items = deployed.model.best_items
        if not deployed.model.has_ranking_head or session.filter is not None or kind != USER_PERSONALIZATION:
            return todo
        rest = []
        for entry in todo:
            head = best_items(session.history(entry[1]), dict(session.context))
            if head is None or len(head[0]) < k:
                rest.append(entry)
            else:
                out[entry[0]] = recommended(top_k_of(*head, k))
        return rest

    def handle(lines: list[dict[str, Any]]) -> list[dict[str, Any] | LineError]:
        out: list[Any] = [None] * len(lines)
        todo: list[tuple[int, str, dict[str, str] | None, list[str] | None]] = []
        for slot, line in enumerate(lines):
            try:
                values = _filter_values(line)
                user = _string(line, "userId")
                todo.append((slot, user, values, _item_list(line) if kind == PERSONALIZED_RANKING else None))
            except LineError as exc:
                out[slot] = exc
        todo = from_heads(out, todo)
        for lo in range(0, len(todo), SCORE_ROWS):
            score(out, todo[lo : lo + SCORE_ROWS])
        return out

    return one_by_one if kind == RELATED_ITEMS else handle


# --------------------------------------------------------------------------- segments
def _attribute_items(expression: str, metadata: dict[str, list[Any]], n_items: int) -> np.ndarray:
    """The items an ``itemAttributes`` expression selects; a line error names what is wrong with it."""
    try:
        return attribute_items(expression, metadata, n_items)
    except FilterSyntaxError as exc:
        raise LineError(f"itemAttributes {expression!r}: {exc.reason} at position {exc.position}.") from None
    except UnknownFieldError as exc:
        raise LineError(f"itemAttributes: {exc}") from None


def _segment_queries(lines: list[bytes], session: BatchSession, attribute: bool) -> list[tuple[Any, Any]]:
    """(parsed input or raw text, item indices or an error message) per line."""
    deployed = session.deployed
    index, n = deployed.model.item_index, len(deployed.item_ids)
    out: list[tuple[Any, Any]] = []
    for raw in lines:
        try:
            line = parse_line(raw)
        except LineError as exc:
            out.append((raw.decode("utf-8", "replace"), str(exc)))
            continue
        try:
            if attribute:
                expr = line.get("itemAttributes")
                if not isinstance(expr, str) or not expr.strip():
                    raise LineError("itemAttributes is required and must be a string.")
                items = np.flatnonzero(_attribute_items(expr.strip(), deployed.item_columns, n))
            else:
                ids = line.get("itemIds")
                if not isinstance(ids, list) or not ids:
                    raise LineError("itemIds is required and must be a non-empty list of item ids.")
                items = np.array(sorted({index[str(i)] for i in ids if str(i) in index}), np.int64)
            if items.size == 0:
                raise LineError("None of the line's items are known to the solution version.")
            out.append((line, items))
        except LineError as exc:
            out.append((line, str(exc)))
    return out


def segment_users(
    session: BatchSession,
    queries: list[np.ndarray],
    k: int,
    allowed_users: np.ndarray | None,
    progress: Callable[[int], None] | None = None,
    chunk: int = 512,
) -> list[list[str]]:
    """For each query (item indices), the ``k`` training users with the highest mean score on those items."""
    model = session.deployed.model
    user_ids = [str(u) for u in model.user_ids.tolist()]
    n_users, n_q = len(user_ids), len(queries)
    best_scores = [np.zeros(0) for _ in range(n_q)]
    best_users = [np.zeros(0, np.int64) for _ in range(n_q)]
    for lo in range(0, n_users, chunk):
        users = np.arange(lo, min(lo + chunk, n_users))
        if allowed_users is not None:
            users = users[allowed_users[users]]
        if users.size == 0:
            continue
        block = np.empty((users.size, n_q))
        scored = model.score_users([session.history(user_ids[int(u)]) for u in users], dict(session.context))
        for row in range(users.size):
            s = np.asarray(scored[row], dtype=np.float64)
            s = np.where(np.isfinite(s), s, np.nan)
            for q, items in enumerate(queries):
                block[row, q] = np.nanmean(s[items]) if items.size else -np.inf
        block = np.where(np.isfinite(block), block, -np.inf)
        for q in range(n_q):
            scores = np.concatenate([best_scores[q], block[:, q]])
            cand = np.concatenate([best_users[q], users])
            if scores.size > k:
                keep = np.argpartition(-scores, k - 1)[:k]
                scores, cand = scores[keep], cand[keep]
            best_scores[q], best_users[q] = scores, cand
        if progress is not None:
            progress(int(users[-1]) + 1)
    out = []
    for q in range(n_q):
        order = np.lexsort((best_users[q], -best_scores[q]))
        out.append([user_ids[int(best_users[q][i])] for i in order if np.isfinite(best_scores[q][i])])
    return out


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
def output_name(source_name: str) -> str:
    """``<input file name>.out`` (the base name of a local path or S3 key)."""
    return PurePosixPath(source_name.rstrip("/")).name + ".out"


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
    sources = data_sources(job.doc["jobInput"]["s3DataSource"]["path"], settings.roots, s3)
    totals = {"lines": 0, "errors": 0}
    for source in sources:
        out = open_output(
            job.doc["jobOutput"]["s3DataDestination"]["path"], output_name(source.name), settings.roots, s3
        )
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
    database_url: str,
    version_arn: str,
    filter_arn: str | None,
    exploration: dict[str, Any] | None,
    k: int,
) -> BlockHandler:
    """In a batch worker process: the job's block handler on a session of its own.

    The worker opens the metadata store and the memory-mapped model itself and reads the live
    events once at its start, so its lines equal the runtime's answers as the parent's would.
    """
    store = MetadataStore(database_url)
    control = Control(settings, store, EventStore(store))
    service = RuntimeService(StoredResourceLookup(control), control.events)
    session = BatchSession(service, version_arn, filter_arn, exploration, live_snapshot=True)
    return inference_block_handler(session, k)


def run_batch_inference(control: Control, runtime: RuntimeService, arn: str) -> None:
    """Run one batch inference job to ACTIVE or CREATE FAILED.

    A small input is answered in this process; a large one on worker processes (one per CPU),
    which also keeps the server's own threads free for requests.
    """
    job = BATCH_INFERENCE_JOB.start(control, arn)
    if job is None:
        return
    doc = job.doc
    try:
        exploration = (doc.get("batchInferenceJobConfig") or {}).get("itemExplorationConfig")
        k = int(doc.get("numResults") or DEFAULT_RESULTS)
        session = BatchSession(
            runtime, doc["solutionVersionArn"], doc.get("filterArn"), exploration, live_snapshot=True
        )
        handle = inference_block_handler(session, k)
        workers = Workers(
            _worker_handler,
            {
                "settings": control.settings,
                "database_url": control.store.url,
                "version_arn": doc["solutionVersionArn"],
                "filter_arn": doc.get("filterArn"),
                "exploration": exploration,
                "k": k,
            },
        )
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


def run_batch_segment(control: Control, runtime: RuntimeService, arn: str) -> None:
    """Run one batch segment job to ACTIVE or CREATE FAILED."""
    job = BATCH_SEGMENT_JOB.start(control, arn)
    if job is None:
        return
    doc = job.doc
    try:
        version = control.store.get(doc["solutionVersionArn"])
        attribute = bool(version and version.doc.get("recipeArn") == ITEM_ATTRIBUTE_AFFINITY)
        session = BatchSession(runtime, doc["solutionVersionArn"], live_snapshot=True)
        allowed = _user_mask(control, session, doc.get("filterArn"))
        k = int(doc.get("numResults") or DEFAULT_RESULTS)

        def write_one(stream: Any, out: Any) -> dict[str, int]:
            lines = [line for line in iter_lines(stream) if line.strip()]
            queries = _segment_queries(lines, session, attribute)
            good = [i for i, (_, q) in enumerate(queries) if not isinstance(q, str)]
            users = segment_users(session, [queries[i][1] for i in good], k, allowed, _Progress(control, arn))
            by_line = dict(zip(good, users, strict=True))
            errors = 0
            for i, (line, q) in enumerate(queries):
                if isinstance(q, str):
                    errors += 1
                    out.write(dump_line({"input": line, "output": None, "error": q}))
                else:
                    out.write(dump_line({"input": line, "output": {"usersList": by_line[i]}, "error": None}))
            return {"lines": len(queries), "errors": errors}

        totals = _outputs(control, job, write_one)
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
