"""A large CSV import as tasks: one per file, or per byte range of a large file, each writing a part file.

Inputs of at least ``part_bytes`` in total (``PART_BYTES_ENV``, 64 MiB by default) are imported
this way; smaller ones stay one pass in the server process (``csv_import.import_csv``). Each task
reads its own source (through the source's picklable openers) and writes one Parquet part straight
into the snapshot draft (``store.objects.SnapshotDraft``: the store's work directory, or the final
key's prefix on S3), so no row passes through the server. The caller runs the tasks on an executor
(``mapper``: ``ordered_map``) and commits the snapshot only once every part is in; a failed task
fails the import and its draft is discarded.

Same result as one pass: the parts are named in task order (file, then range), so the snapshot
reads back the same rows **in the same order** as the single-process import; an INCREMENTAL import
carries over or merges the previous snapshot as that import does (``finish_snapshot``), Items,
Users and Actions keeping the newest row per id. The same failure: a range task numbers a bad
value's row within its range and the server adds the data rows of the file's earlier ranges; any
other failure of a range (a malformed row, a missing header column) has the whole file imported
again as one task, which finds and words it as the one pass does. The first failing task in input
order is reported (two bad rows within one 16 MiB block of the one pass may come out in the other
order: both check a block field by field).

When a byte range is safe: a range owns the lines that start inside it, a line being what ends at
``\\n``, which is a row boundary whenever no quote character comes before it (only a quoted field
may hold a line end; a carriage return ends a row only where ``\\n`` would, or inside one line).
Each range task checks the bytes it owns for a quote character (together they are the whole file);
when one is found, the whole file is imported again as one task and its range parts are dropped.
So quoted CSV files (as pyarrow writes strings) are imported one task per file.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, BinaryIO

from ..store.objects import SnapshotDraft
from .csv_import import CsvSource, ImportFailure, RowFailure, finish_snapshot, id_field_of, write_part
from .schema import DatasetSchema

log = logging.getLogger(__name__)

PART_BYTES_ENV = "OPENPERSONALIZE_IMPORT_PART_BYTES"
PART_BYTES = 64 << 20
READ_BYTES = 1 << 20
HEADER_LIMIT = 1 << 24  # a header line longer than this: the file is not split (the one pass says why)

# an executor's ordered_map: (setup, setup's kwargs, items, workers) -> answers in input order
Mapper = Callable[[Callable[..., Callable[[Any], Any]], dict[str, Any], Iterable[Any], int], Iterator[Any]]


def part_bytes() -> int:
    """The input size from which an import runs as tasks, and the size of a byte range (``PART_BYTES_ENV``)."""
    return int(os.environ.get(PART_BYTES_ENV, "") or PART_BYTES)


@dataclass(frozen=True)
class PartTask:
    """Source ``file`` of the import, whole (``end`` None) or the lines starting in bytes [start, end)."""

    file: int
    index: int
    source: CsvSource
    start: int = 0
    end: int | None = None

    def part_name(self, token: str) -> str:
        return f"part-{token}-{self.file:05d}-{self.index:05d}.parquet"


@dataclass(frozen=True)
class _Failure:
    """An ImportFailure as a task reports it; ``row`` when it names a bad value's row within the task's range."""

    message: str
    name: str = ""
    row: int | None = None
    rest: str = ""


@dataclass
class PartOutcome:
    """What a task did: its part (None without rows), data rows, missing counts; or why not."""

    part: str | None = None
    rows: int = 0
    missing: dict[str, dict[str, int]] = field(default_factory=dict)
    failure: _Failure | None = None
    unsafe: bool = False  # the range met a quote, or failed otherwise than on a value: import the file whole


@dataclass
class PartsResult:
    """Rows read from the CSVs, rows in the snapshot, values stored as missing (as ``ImportResult``)."""

    rows: int
    total_rows: int
    missing: dict[str, dict[str, int]]


def plan_parts(sources: Sequence[CsvSource], split_bytes: int) -> list[PartTask] | None:
    """The tasks of an import, or None when it stays one pass (less than ``split_bytes``, or a size unknown).

    A file of at least ``split_bytes`` that can be read from an offset is split into byte ranges of
    at most ``split_bytes``; any other file is one task.
    """
    sizes = [source.size for source in sources]
    if not sources or any(size is None for size in sizes) or sum(size or 0 for size in sizes) < split_bytes:
        return None
    tasks = []
    for n, source in enumerate(sources):
        size = source.size or 0
        if source.open_at is None or size < split_bytes:
            tasks.append(PartTask(n, 0, source))
            continue
        ranges = math.ceil(size / split_bytes)
        step = math.ceil(size / ranges)
        tasks += [PartTask(n, i, source, i * step, min(size, (i + 1) * step)) for i in range(ranges)]
    return tasks


@dataclass
class _Scan:
    """What one read of a range saw: a quote character, its last byte, whether it read all the range owns."""

    quotes: bool = False
    last: bytes = b""
    complete: bool = False

    def see(self, chunk: bytes) -> None:
        self.quotes = self.quotes or b'"' in chunk
        self.last = chunk[-1:]


def _owned_chunks(
    open_at: Callable[[int], BinaryIO], start: int, end: int, scan: _Scan
) -> Generator[bytes, None, None]:
    """The bytes of the lines starting in [start, end): from the first line start at or after ``start``
    through the line end at or after ``end - 1`` (or the end of the file)."""
    stream = open_at(max(start - 1, 0))
    try:
        pos, chunk = max(start - 1, 0), b""
        if start:  # skip the rest of the line the previous range owns
            while (i := chunk.find(b"\n")) < 0:
                pos += len(chunk)
                chunk = stream.read(READ_BYTES)
                if not chunk:
                    scan.complete = True
                    return
            chunk, pos = chunk[i + 1 :], pos + i + 1
        while pos < end or scan.last not in (b"\n", b""):
            if not chunk:
                chunk = stream.read(READ_BYTES)
                if not chunk:
                    break
            if pos + len(chunk) >= end and (i := chunk.find(b"\n", max(end - 1 - pos, 0))) >= 0:
                chunk = chunk[: i + 1]
                scan.see(chunk)
                yield chunk
                break
            scan.see(chunk)
            yield chunk
            pos, chunk = pos + len(chunk), b""
        scan.complete = True
    finally:
        stream.close()


class _Chunks(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (closing it closes the iterator)."""

    def __init__(self, chunks: Generator[bytes, None, None]) -> None:
        super().__init__()
        self._chunks, self._rest = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._rest:
            self._rest = next(self._chunks, b"")
            if not self._rest:
                return 0
        n = min(len(buffer), len(self._rest))
        buffer[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n

    def close(self) -> None:
        self._chunks.close()
        super().close()


_FIELD = rb'(?:"(?:[^"]|"")*"|[^",\r\n]*)'
_WHOLE_ROW = re.compile(rb"(?:\xef\xbb\xbf)?" + _FIELD + rb"(?:," + _FIELD + rb")*\r?\n")  # quoted fields whole


def _header(open_at: Callable[[int], BinaryIO]) -> bytes | None:
    """The file's first line with its line end, None when there is none within ``HEADER_LIMIT`` bytes."""
    stream = open_at(0)
    try:
        head = b""
        while b"\n" not in head and len(head) <= HEADER_LIMIT:
            chunk = stream.read(READ_BYTES)
            if not chunk:
                return None
            head += chunk
    finally:
        stream.close()
    end = head.find(b"\n")
    return head[: end + 1] if end >= 0 else None


def _range_source(task: PartTask, header: bytes, scans: list[_Scan]) -> CsvSource:
    """The task's range as a CSV of its own: the file's header line, then the lines the range owns."""
    open_at = task.source.open_at
    assert open_at is not None and task.end is not None

    def open_range() -> BinaryIO:
        scan = _Scan()
        scans.append(scan)
        owned = _owned_chunks(open_at, max(task.start, 1), task.end or 0, scan)  # the header line is not owned
        return io.BufferedReader(_Chunks(_prefixed(header, owned)), READ_BYTES)  # type: ignore[return-value]

    return CsvSource(task.source.name, open_range)


def _prefixed(first: bytes, rest: Generator[bytes, None, None]) -> Generator[bytes, None, None]:
    yield first
    yield from rest


def write_parts(schema: DatasetSchema, draft: SnapshotDraft) -> Callable[[PartTask], PartOutcome]:
    """An executor's setup: the function a worker answers tasks with (module level, so it pickles by name)."""
    return partial(_write_task, schema=schema, draft=draft)


def _write_task(task: PartTask, schema: DatasetSchema, draft: SnapshotDraft) -> PartOutcome:
    name = task.part_name(draft.token)
    scratch = draft.scratch(name)
    scans: list[_Scan] = []
    try:
        if task.end is None:
            source = task.source
        else:
            header = _header(task.source.open_at)  # type: ignore[arg-type]
            if header is None or not _WHOLE_ROW.fullmatch(header):
                return PartOutcome(unsafe=True)
            source = _range_source(task, header, scans)
        rows, missing, written = write_part([source], schema, scratch, require_rows=task.end is None)
    except ImportFailure as exc:
        scratch.unlink(missing_ok=True)
        if task.end is None:
            return PartOutcome(failure=_Failure(str(exc)))
        if isinstance(exc, RowFailure) and not exc.parsed and not any(scan.quotes for scan in scans):
            return PartOutcome(failure=_Failure(str(exc), exc.name, exc.row, exc.rest))
        return PartOutcome(unsafe=True)  # any other failure: the one pass over the file finds and words it
    except Exception as exc:  # as the one pass does: the message names no content, the log has the rest
        scratch.unlink(missing_ok=True)
        log.exception("import task %s of %s failed", task.index, task.source.name)
        why = f"Import failed ({type(exc).__name__}); the job worker's log has the details"
        return PartOutcome(failure=_Failure(why))
    if task.end is not None and (any(scan.quotes for scan in scans) or not any(scan.complete for scan in scans)):
        scratch.unlink(missing_ok=True)
        return PartOutcome(unsafe=True)
    if not written:
        return PartOutcome(rows=rows, missing=missing)
    return PartOutcome(part=draft.put(name, scratch), rows=rows, missing=missing)


def _remove(fs: Any, path: str | None) -> None:
    if path is None:
        return
    try:
        fs.delete_file(path)
    except FileNotFoundError:
        pass


def _run(
    tasks: list[PartTask], schema: DatasetSchema, draft: SnapshotDraft, mapper: Mapper, workers: int
) -> list[PartOutcome]:
    """The tasks' outcomes in order; after a failure that stands no new task starts (those running finish).

    A failure stands unless an earlier range of its file was unsafe (the file is imported again whole).
    """
    failed = False
    unsafe: set[int] = set()

    def feed() -> Iterator[PartTask]:
        for task in tasks:
            if failed:
                return
            yield task

    outcomes = []
    answers = mapper(write_parts, {"schema": schema, "draft": draft}, feed(), max(1, min(workers, len(tasks))))
    for task, outcome in zip(tasks, answers, strict=False):
        outcomes.append(outcome)
        if outcome.unsafe:
            unsafe.add(task.file)
        failed = failed or (outcome.failure is not None and task.file not in unsafe)
    return outcomes


def _first_problem(tasks: list[PartTask], outcomes: list[PartOutcome]) -> tuple[set[int], ImportFailure | None]:
    """Walking files in order: the files to import again whole (a range was unsafe) before the first failure,
    and that failure (row numbers made relative to its file), if any."""
    again: set[int] = set()
    rows = 0
    file = -1
    for task, outcome in zip(tasks, outcomes, strict=False):
        if task.file != file:
            if file >= 0 and file not in again and rows == 0:
                return again, ImportFailure(f"{_tasks_of(tasks, file)[0].source.name}: no data rows (only a header)")
            file, rows = task.file, 0
        if file in again:
            continue
        if outcome.unsafe:
            again.add(file)
            continue
        if outcome.failure is not None:
            return again, _shifted(outcome.failure, rows)
        rows += outcome.rows
    if file >= 0 and file not in again and rows == 0 and len(outcomes) == len(tasks):
        return again, ImportFailure(f"{_tasks_of(tasks, file)[0].source.name}: no data rows (only a header)")
    return again, None


def _tasks_of(tasks: list[PartTask], file: int) -> list[PartTask]:
    return [task for task in tasks if task.file == file]


def _shifted(failure: _Failure, rows: int) -> ImportFailure:
    """The failure as the one pass words it: a bad value's row counted from the file's first data row."""
    if failure.row is None:
        return ImportFailure(failure.message)
    return RowFailure(failure.name, failure.row + rows, failure.rest)


def import_in_parts(
    tasks: list[PartTask],
    schema: DatasetSchema,
    dataset_type: str,
    draft: SnapshotDraft,
    old_files: list[str],
    mode: str,
    mapper: Mapper,
    workers: int,
) -> PartsResult:
    """Run ``tasks`` (``plan_parts``) on ``mapper`` into ``draft`` and finish the snapshot there (not committed).

    ``old_files``: the previous snapshot's files in the store's file system to keep (INCREMENTAL), else none.
    ImportFailure as the one pass would raise it; the caller discards the draft on any error.
    """
    id_field = id_field_of(schema, dataset_type, mode)
    fs = draft.filesystem
    outcomes = _run(tasks, schema, draft, mapper, workers)
    again, failure = _first_problem(tasks, outcomes)
    if again:
        for task, outcome in zip(tasks, outcomes, strict=False):
            if task.file in again:
                _remove(fs, outcome.part)
        whole = [PartTask(file, 0, _tasks_of(tasks, file)[0].source) for file in sorted(again)]
        redone = dict(zip(sorted(again), _run(whole, schema, draft, mapper, workers), strict=False))
        merged_tasks, merged = [], []
        for task, outcome in zip(tasks, outcomes, strict=False):
            if task.file not in again:
                merged_tasks.append(task)
                merged.append(outcome)
            elif task.index == 0 and task.file in redone:
                merged_tasks.append(replace(task, end=None))
                merged.append(redone[task.file])
        tasks, outcomes = merged_tasks, merged
        _, failure = _first_problem(tasks, outcomes)
    if failure is not None:
        raise failure
    missing: dict[str, dict[str, int]] = {}
    for outcome in outcomes:
        for column, counts in outcome.missing.items():
            into = missing.setdefault(column, {})
            for kind, n in counts.items():
                into[kind] = into.get(kind, 0) + n
    rows = sum(outcome.rows for outcome in outcomes)
    parts = [outcome.part for outcome in outcomes if outcome.part]
    total = finish_snapshot(draft, parts, rows, old_files, schema, id_field)
    return PartsResult(rows=rows, total_rows=total, missing=missing)
