"""Streaming CSV -> Parquet import of a dataset, as CreateDatasetImportJob does it.

Each import writes a new immutable snapshot directory of Parquet files holding the
dataset's complete data. CSVs are streamed block by block with ``pyarrow.csv.open_csv``;
validation is vectorised. When Arrow rejects a value the (slow) diagnostic pass re-reads
the source to name the exact row and column. This module is the one pass (``import_csv``) and
the pieces a large import's tasks share with it (``write_part``, ``finish_snapshot``; the tasks
themselves: ``data/csv_parts.py``).

Values that cannot be read (the rule, and where it comes from)
--------------------------------------------------------------
* Metadata fields (every field that is neither required nor a reserved keyword, in Items,
  Users and Interactions datasets alike): an empty value, or one that is not valid for the
  field's type (``'2006–2007'`` in an ``int`` field, ``yes`` in a ``boolean`` one, an int out
  of range), is stored as missing (null), whether or not the schema field is nullable. Such
  values are counted per column (``ImportResult.missing``) and the job still succeeds. A null
  never matches a filter condition. Sources: Personalize's schema guide ("Adding a null type
  to a field allows you to use imperfect data (for example, metadata with blank values)"; null
  is allowed for "interaction, user, and item metadata fields"), its dataset requirement pages
  ("Depending on your schema, item metadata can include empty/null values"), and Personalize's
  observed behaviour: the POC notebook 02 imports MovieLens items whose ``YEAR`` is a plain
  ``int`` while 13 titles have no plain year, the job ends ACTIVE and the decade filter serves.
* Reserved and required fields (USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE, IMPRESSION,
  RECOMMENDATION_ID, EVENT_ATTRIBUTION_SOURCE, CREATION_TIMESTAMP and a domain's reserved
  keywords) must be readable: a bad value fails the job naming file, row and column; an empty
  one does too unless the field is nullable. Exception: an empty Items ``CREATION_TIMESTAMP`` is
  stored as missing, since Personalize documents that a missing creation timestamp is inferred
  from the item's interactions.
* Still fatal for any field, as documented: a categorical value over 1000 characters, an id over
  256, bytes that are not UTF-8 (the file must be UTF-8), a row with the wrong number of columns.

Failure messages name the file, the row and the column, and show at most the offending value
(trimmed); they never echo a line of the file, so importing a file that is not a dataset (a
password file, say) discloses nothing of it.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from openpersonalize.data.actions import repeat_frequency_problem
from openpersonalize.data.schema import (
    CATEGORICAL_MAX_LENGTH,
    DATASET_TYPES,
    ID_MAX_LENGTH,
    DatasetSchema,
    FieldSpec,
    is_metadata,
)
from openpersonalize.store.objects import new_snapshot

log = logging.getLogger(__name__)

MODES = ("FULL", "INCREMENTAL")
ID_FIELDS = {"ITEMS": "ITEM_ID", "USERS": "USER_ID", "ACTIONS": "ACTION_ID"}
_BLOCK_SIZE = 16 << 20  # bytes of CSV per Arrow block
_ROW_GROUP = 1 << 20  # rows per Parquet row group
_TRUE = ["true", "True", "TRUE"]
_FALSE = ["false", "False", "FALSE"]
_SHOWN = 50  # characters of an offending value a failure message shows
# Text a metadata number must match before conversion (RE2: linear time, no backtracking).
_INT_TEXT = r"^[+-]?[0-9]{1,38}$"
_FLOAT_TEXT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,4})?$"
_DECIMAL = pa.decimal128(38, 0)
_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


class ImportFailure(Exception):
    """An import that cannot complete; the message names file, row and column where known."""


class RowFailure(ImportFailure):
    """A failure at a numbered data row: ``{name} row {row}{rest}``.

    ``parsed`` tells how the row was counted: by the CSV module's records (blank lines count,
    a row with the wrong number of columns) or by Arrow's rows (blank lines skipped, a bad value).
    """

    def __init__(self, name: str, row: int, rest: str, parsed: bool = False) -> None:
        super().__init__(f"{name} row {row}{rest}")
        self.name, self.row, self.rest, self.parsed = name, row, rest, parsed


@dataclass
class CsvSource:
    """One CSV to import: a display name for messages and an opener for its bytes.

    ``size`` (bytes) and ``open_at`` (its bytes from an offset on), when known, let a large file be
    imported in byte ranges (``data/csv_parts.py``); both openers must then be picklable.
    """

    name: str
    open: Callable[[], BinaryIO]
    size: int | None = None
    open_at: Callable[[int], BinaryIO] | None = None


@dataclass
class ImportResult:
    """Where the new snapshot is, rows read from the CSVs and rows in the snapshot.

    ``missing`` counts, per column, the values stored as null although the file had a bad
    value (``invalid``) or none where the schema field is not nullable (``empty``).
    """

    snapshot: Path
    rows: int
    total_rows: int
    missing: dict[str, dict[str, int]]


@dataclass(frozen=True)
class _Policy:
    """How the import treats each field's values (see the module docstring)."""

    lenient: frozenset[str]  # metadata: bad or empty values are stored as null
    storage: pa.Schema  # the snapshot's schema: fields whose values may be missing are nullable

    @classmethod
    def of(cls, schema: DatasetSchema) -> _Policy:
        lenient = {f.name for f in schema.fields if is_metadata(f, schema.dataset_type, schema.domain)}
        return cls(frozenset(lenient), schema.arrow_schema())

    def optional(self, spec: FieldSpec) -> bool:
        """Whether an empty value of ``spec`` is stored as null instead of failing the import."""
        return self.storage.field(spec.name).nullable

    def read_type(self, spec: FieldSpec) -> pa.DataType:
        """The type Arrow parses the column as: metadata numbers and booleans are parsed here."""
        return pa.string() if spec.name in self.lenient else spec.arrow_type


@dataclass
class _Plan:
    """How one source's header maps to schema fields."""

    names: list[str]  # positional names handed to Arrow (c0, c1, ...)
    columns: dict[str, str]  # schema field name -> positional column name


def _describe(exc: BaseException) -> str:
    """An error's own first line (for open and read errors, which never hold file content)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0] if len(text) < 300 else text[:300] + "..."


def _shown(text: str) -> str:
    """An offending value as a message shows it: quoted, at most ``_SHOWN`` characters."""
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def _read_header(source: CsvSource) -> list[str] | None:
    """The header's column names (None when the file is empty)."""
    try:
        stream = source.open()
    except Exception as exc:
        raise ImportFailure(f"{source.name}: cannot open: {_describe(exc)}") from None
    try:
        raw = b""
        while True:
            chunk = stream.read(1 << 16)
            if not chunk:
                break
            raw += chunk
            if b"\n" in chunk or len(raw) > (1 << 24):
                break
    except Exception as exc:
        raise ImportFailure(f"{source.name}: cannot read: {_describe(exc)}") from None
    finally:
        stream.close()
    line = raw.split(b"\n", 1)[0]
    try:
        text = line.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise ImportFailure(f"{source.name}: header is not valid UTF-8 ({exc.reason})") from None
    if not text.strip():
        return None
    return next(csv.reader([text]))


def _plan(source: CsvSource, header: list[str], schema: DatasetSchema) -> _Plan:
    names = [f"c{i}" for i in range(len(header))]
    columns: dict[str, str] = {}
    for i, col in enumerate(header):
        spec = schema.field(col.strip())
        if spec is None:
            continue  # columns outside the schema are ignored, as Personalize does
        if spec.name in columns:
            raise ImportFailure(f"{source.name}: column {spec.name} appears more than once in the header")
        columns[spec.name] = names[i]
    for spec in schema.fields:
        if spec.name not in columns and not spec.nullable:
            raise ImportFailure(
                f"{source.name}: required column {spec.name} is missing from the header "
                f"(the schema's columns: {', '.join(schema.names)})"
            )
    return _Plan(names=names, columns=columns)


def _open_reader(
    source: CsvSource, plan: _Plan, schema: DatasetSchema, policy: _Policy, raw: bool
) -> pacsv.CSVStreamingReader:
    """A streaming reader of the data rows; columns as ``policy`` reads them, or all binary when ``raw``."""
    types = {
        plan.columns[f.name]: (pa.binary() if raw else policy.read_type(f))
        for f in schema.fields
        if f.name in plan.columns
    }
    read = pacsv.ReadOptions(column_names=plan.names, skip_rows=1, block_size=_BLOCK_SIZE, use_threads=True)
    convert = pacsv.ConvertOptions(
        column_types=types,
        include_columns=list(types),
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        true_values=_TRUE,
        false_values=_FALSE,
        check_utf8=True,
    )
    return pacsv.open_csv(source.open(), read_options=read, convert_options=convert)


def _fail(source: CsvSource, row: int, column: str, what: str) -> RowFailure:
    return RowFailure(source.name, row, f", column {column}: {what}")


def _first(mask: pa.Array) -> int:
    return int(pc.index(mask, True).as_py())


def _parse_metadata(text: pa.Array, spec: FieldSpec) -> pa.Array:
    """``text`` converted to ``spec``'s type; values that are not valid for it become null."""
    if spec.type == "string":
        return text
    if spec.type == "boolean":
        known = pc.is_in(text, value_set=pa.array(_TRUE + _FALSE))
        return pc.if_else(known, pc.is_in(text, value_set=pa.array(_TRUE)), pa.scalar(None, pa.bool_()))
    none = pa.scalar(None, pa.string())
    if spec.type in _INT_RANGE:
        digits = pc.cast(pc.if_else(pc.match_substring_regex(text, _INT_TEXT), text, none), _DECIMAL)
        low, high = (pa.scalar(bound, _DECIMAL) for bound in _INT_RANGE[spec.type])
        fits = pc.and_(pc.greater_equal(digits, low), pc.less_equal(digits, high))
        return pc.cast(pc.if_else(fits, digits, pa.scalar(None, _DECIMAL)), spec.arrow_type)
    number = pc.cast(pc.if_else(pc.match_substring_regex(text, _FLOAT_TEXT), text, none), pa.float64())
    number = pc.cast(number, spec.arrow_type, safe=False)
    return pc.if_else(pc.is_finite(number), number, pa.scalar(None, spec.arrow_type))


def _count(missing: dict[str, dict[str, int]], column: str, kind: str, n: int) -> None:
    if n:
        counts = missing.setdefault(column, {})
        counts[kind] = counts.get(kind, 0) + n


def _convert_batch(
    source: CsvSource,
    batch: pa.RecordBatch,
    plan: _Plan,
    schema: DatasetSchema,
    policy: _Policy,
    offset: int,
    missing: dict[str, dict[str, int]],
) -> pa.RecordBatch:
    """Check one batch and conform it to the snapshot schema (schema order, absent fields null).

    Vectorised: metadata values are converted (bad ones become null and are counted), empty
    values of fields that need one fail the import, and id and categorical lengths are checked.
    """
    arrays = []
    for spec in schema.fields:
        name = plan.columns.get(spec.name)
        if name is None:
            arrays.append(pa.nulls(batch.num_rows, spec.arrow_type))
            continue
        col = batch.column(name)
        if col.null_count and not policy.optional(spec):
            i = _first(col.is_null())
            raise _fail(source, offset + i + 1, spec.name, f"empty value, but {spec.name} is required")
        if not spec.nullable:
            _count(missing, spec.name, "empty", col.null_count)
        _check_length(source, col, spec, offset)
        if spec.name.upper() == "REPEAT_FREQUENCY" and schema.dataset_type == "ACTIONS":
            if found := repeat_frequency_problem(col):
                raise _fail(source, offset + found[0] + 1, spec.name, found[1])
        if spec.name in policy.lenient:
            empty = col.null_count
            col = _parse_metadata(col, spec)
            _count(missing, spec.name, "invalid", col.null_count - empty)
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, schema=policy.storage)


def _check_length(source: CsvSource, col: pa.Array, spec: FieldSpec, offset: int) -> None:
    """Ids longer than 256 and categorical values longer than 1000 characters fail the import."""
    if spec.type != "string":
        return
    limit = None
    if spec.name.upper() in ("USER_ID", "ITEM_ID", "ACTION_ID"):
        limit = ID_MAX_LENGTH
    elif spec.categorical:
        limit = CATEGORICAL_MAX_LENGTH
    if limit is None:
        return
    # byte length >= char length, so only compute char lengths when bytes exceed the limit
    if (pc.max(pc.binary_length(col)).as_py() or 0) > limit:
        too_long = pc.fill_null(pc.greater(pc.utf8_length(col), limit), False)
        if pc.any(too_long).as_py():
            i = _first(too_long)
            raise _fail(source, offset + i + 1, spec.name, f"value is longer than {limit} characters")


_KIND = {"int": "an int", "long": "a long", "float": "a float", "double": "a double", "boolean": "a boolean"}


def _value_error(spec: FieldSpec, value: bytes) -> str | None:
    """Why ``value`` (raw CSV bytes) is not valid for ``spec``, or None if it is."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"value is not valid UTF-8 ({exc.reason} at byte {exc.start})"
    if spec.type == "string":
        return None
    if spec.type == "boolean":
        if text in _TRUE + _FALSE:
            return None
        return f"{_shown(text)} is not a boolean (expected true or false)"
    try:
        pa.array([text]).cast(spec.arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return f"{_shown(text)} is not {_KIND[spec.type]}"
    return None


def _diagnose_values(source: CsvSource, plan: _Plan, schema: DatasetSchema, policy: _Policy) -> ImportFailure | None:
    """Slow path: re-read everything as raw bytes and find the first value Arrow rejected.

    Metadata values are only checked for UTF-8 (the policy turns the rest into nulls).
    """
    offset = 0
    for batch in _open_reader(source, plan, schema, policy, raw=True):
        for spec in schema.fields:
            name = plan.columns.get(spec.name)
            if name is None:
                continue
            col = batch.column(name)
            checked = FieldSpec(spec.name, "string") if spec.name in policy.lenient else spec
            try:
                text = col.cast(pa.string())
                if checked.type == "boolean":
                    _check_bools(text)
                elif checked.type != "string":
                    text.cast(checked.arrow_type)
                continue
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
                pass
            for i, value in enumerate(col.to_pylist()):
                if value is None:
                    continue
                reason = _value_error(checked, value)
                if reason:
                    return _fail(source, offset + i + 1, spec.name, reason)
        offset += batch.num_rows
    return None


def _check_bools(text: pa.Array) -> None:
    ok = pc.is_in(text, value_set=pa.array(_TRUE + _FALSE))
    if not pc.all(pc.or_(ok, text.is_null())).as_py():
        raise ValueError("not a boolean")


def _diagnose_parse(source: CsvSource, expected: int) -> ImportFailure | None:
    """Slow path for malformed CSV: find the first data row with the wrong number of columns."""
    stream = source.open()
    try:
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text)
        next(reader, None)
        for row_no, row in enumerate(reader, start=1):
            if row and len(row) != expected:
                rest = f": expected {expected} columns as in the header, got {len(row)}"
                return RowFailure(source.name, row_no, rest, parsed=True)
    finally:
        stream.close()
    return None


@dataclass
class _Sink:
    """The new Parquet part being written (made at its first rows), its buffered batches, the missing-value counts."""

    path: Path
    schema: pa.Schema
    missing: dict[str, dict[str, int]] = field(default_factory=dict)
    buffer: list[pa.RecordBatch] = field(default_factory=list)
    writer: pq.ParquetWriter | None = None

    def add(self, batch: pa.RecordBatch) -> None:
        self.buffer.append(batch)
        if sum(b.num_rows for b in self.buffer) >= _ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            if self.writer is None:
                self.writer = pq.ParquetWriter(self.path, self.schema, compression="snappy")
            self.writer.write_table(pa.Table.from_batches(self.buffer), row_group_size=_ROW_GROUP)
            self.buffer.clear()

    def close(self) -> bool:
        """Write what is buffered and close the part; whether there is one (no rows, no file)."""
        self.flush()
        if self.writer is None:
            return False
        self.writer.close()
        return True


def write_part(
    sources: Sequence[CsvSource], schema: DatasetSchema, path: Path, require_rows: bool
) -> tuple[int, dict[str, dict[str, int]], bool]:
    """Import ``sources`` into one local Parquet file at ``path``: their data rows, the missing-value counts,
    whether it was written (not when there were no rows). ``require_rows``: a source without data rows fails."""
    policy = _Policy.of(schema)
    sink = _Sink(path, policy.storage)
    try:
        rows = sum(_stream_source(source, schema, policy, sink, require_rows) for source in sources)
        return rows, sink.missing, sink.close()
    except BaseException:
        if sink.writer is not None:
            sink.writer.close()
        raise


def _stream_source(
    source: CsvSource, schema: DatasetSchema, policy: _Policy, sink: _Sink, require_rows: bool = True
) -> int:
    """Import one CSV into ``sink``; returns its data row count (a CSV without any fails when ``require_rows``)."""
    header = _read_header(source)
    if header is None:
        raise ImportFailure(f"{source.name}: file is empty (no header and no data rows)")
    plan = _plan(source, header, schema)
    rows = 0
    try:
        for batch in _open_reader(source, plan, schema, policy, raw=False):
            sink.add(_convert_batch(source, batch, plan, schema, policy, rows, sink.missing))
            rows += batch.num_rows
    except ImportFailure:
        raise
    except pa.ArrowInvalid as exc:
        message = str(exc)  # Arrow quotes the offending row: never shown, only classified
        if "Could not skip initial" in message and rows == 0:  # header without a line end
            raise ImportFailure(f"{source.name}: no data rows (only a header)") from None
        parse_error = "CSV parse error" in message
        try:
            found = (
                _diagnose_parse(source, len(header)) if parse_error else _diagnose_values(source, plan, schema, policy)
            )
        except Exception:  # the diagnosis is best effort
            found = None
        if found is not None:
            raise found from None
        what = "not a valid CSV file (a row could not be parsed)" if parse_error else "a value could not be read"
        raise ImportFailure(f"{source.name}: {what}") from None
    except OSError as exc:
        raise ImportFailure(f"{source.name}: cannot read: {_describe(exc)}") from None
    except (pa.ArrowException, UnicodeDecodeError) as exc:
        raise ImportFailure(f"{source.name}: cannot read ({type(exc).__name__})") from None
    if rows == 0 and require_rows:
        raise ImportFailure(f"{source.name}: no data rows (only a header)")
    return rows


def _parquet_files(snapshot: Path | None) -> list[Path]:
    if snapshot is None:
        return []
    return sorted(snapshot.glob("*.parquet"))


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _dedupe_last(table: pa.Table, id_field: str) -> pa.Table:
    """Keep the last row per id (a later row replaces an earlier one), in first-seen order."""
    idx = pa.array(np.arange(table.num_rows, dtype=np.int64))
    grouped = pa.table({"k": table[id_field], "i": idx}).group_by("k", use_threads=False).aggregate([("i", "max")])
    keep = np.sort(grouped["i_max"].to_numpy())
    return table if len(keep) == table.num_rows else table.take(pa.array(keep))


def import_csv(
    sources: Sequence[CsvSource],
    schema: DatasetSchema,
    dataset_type: str,
    dest_dir: Path,
    previous: Path | None,
    mode: str,
) -> ImportResult:
    """Import CSVs into a new immutable snapshot under ``dest_dir``; ``previous`` is never modified.

    FULL: the snapshot holds only the imported rows. INCREMENTAL: Interactions append to the
    previous snapshot (its files are hard-linked, not rewritten); Items/Users are upserted by id.
    On any failure the partial snapshot is removed and ImportFailure is raised.
    """
    id_field = id_field_of(schema, dataset_type, mode)
    if not sources:
        raise ImportFailure("No CSV files to import")
    work, final, token = new_snapshot(dest_dir)
    try:
        new_file = work / f"part-{token}.parquet"
        rows, missing, _ = write_part(sources, schema, new_file, require_rows=True)
        old_files = [str(f) for f in _parquet_files(previous)] if mode.upper() == "INCREMENTAL" else []
        total = finish_snapshot(LocalDraft(work, token), [str(new_file)], rows, old_files, schema, id_field)
        os.rename(work, final)
        return ImportResult(snapshot=final, rows=rows, total_rows=total, missing=missing)
    except ImportFailure:
        shutil.rmtree(work, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(work, ignore_errors=True)
        log.exception("import into %s failed", dest_dir)
        raise ImportFailure(f"Import failed ({type(exc).__name__}); the server log has the details") from exc


def id_field_of(schema: DatasetSchema, dataset_type: str, mode: str) -> str | None:
    """The id field whose newest row wins (Items, Users, Actions), None for appended data; checks type and mode."""
    dtype = dataset_type.upper()
    if mode.upper() not in MODES:
        raise ImportFailure(f"Import mode {mode.upper()!r} is not valid; expected FULL or INCREMENTAL")
    if dtype not in DATASET_TYPES:
        raise ImportFailure(f"Importing {dataset_type} datasets is not supported")
    if dtype not in ID_FIELDS:
        return None
    spec = schema.field(ID_FIELDS[dtype])
    if spec is None:
        raise ImportFailure(f"Schema has no {ID_FIELDS[dtype]} field")
    return spec.name


class PartSink(Protocol):
    """Where a snapshot's part files go: read and copied in ``filesystem`` under ``path``; each new file is
    written locally at ``scratch(name)`` first, then made a part by ``put`` (its path in ``filesystem``)."""

    path: str
    token: str

    @property
    def filesystem(self) -> pafs.FileSystem: ...

    def scratch(self, name: str) -> Path: ...

    def put(self, name: str, scratch: Path) -> str: ...


@dataclass(frozen=True)
class LocalDraft:
    """A snapshot's work directory on this machine (``new_snapshot``): parts are written in place."""

    work: Path
    token: str

    @property
    def path(self) -> str:
        return str(self.work)

    @property
    def filesystem(self) -> pafs.FileSystem:
        return pafs.LocalFileSystem()

    def scratch(self, name: str) -> Path:
        return self.work / name

    def put(self, name: str, scratch: Path) -> str:
        return str(scratch)


def finish_snapshot(
    draft: PartSink,
    new_files: list[str],
    rows: int,
    old_files: list[str],
    schema: DatasetSchema,
    id_field: str | None,
) -> int:
    """Complete a snapshot whose new rows are ``new_files`` (in order) in ``draft``; its total row count.

    ``old_files`` (the previous snapshot's, INCREMENTAL only) are carried over as they are when no
    field has an id (Interactions: hard-linked locally, copied inside S3), else merged with the new
    rows so that the newest row per id wins, into one file.
    """
    fs = draft.filesystem
    target = _Policy.of(schema).storage
    for f in old_files:
        if not _same_columns(pq.read_schema(f, filesystem=fs), target):
            raise ImportFailure(f"Previous snapshot file {f.rsplit('/', 1)[-1]} does not match the dataset schema")
    if id_field is None:  # Interactions: append
        total = rows
        for f in old_files:
            _carry_over(draft, f, target)
            total += pq.read_metadata(f, filesystem=fs).num_rows
        return total
    parts = [pq.read_table(f, filesystem=fs).cast(target) for f in old_files]
    merged = _dedupe_last(pa.concat_tables(parts + [pq.read_table(f, filesystem=fs) for f in new_files]), id_field)
    for f in new_files:
        fs.delete_file(f)
    _put_table(draft, merged, f"part-{draft.token}.parquet")
    return merged.num_rows


def _put_table(draft: PartSink, table: pa.Table, name: str) -> None:
    scratch = draft.scratch(name)
    pq.write_table(table, scratch, compression="snappy")
    draft.put(name, scratch)


def _same_columns(found: pa.Schema, target: pa.Schema) -> bool:
    """Same names and types; nullability may differ (older snapshots declared metadata not null)."""
    return [(f.name, f.type) for f in found] == [(f.name, f.type) for f in target]


def _carry_over(draft: PartSink, src: str, target: pa.Schema) -> None:
    """Reuse a previous snapshot's file: hard-linked (local) or copied (S3) when its schema is ``target``,
    else rewritten to it."""
    fs, name = draft.filesystem, src.rsplit("/", 1)[-1]
    if not pq.read_schema(src, filesystem=fs).equals(target):
        _put_table(draft, pq.read_table(src, filesystem=fs).cast(target), name)
    elif isinstance(fs, pafs.LocalFileSystem):
        _link_or_copy(Path(src), Path(draft.path) / name)
    else:
        fs.copy_file(src, f"{draft.path}/{name}")


def read_snapshot(path: Path | None, columns: list[str] | None = None) -> pa.Table | None:
    """The whole snapshot as one table (optionally only ``columns``); None for an empty dataset."""
    files = _parquet_files(path)
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f, columns=columns) for f in files])


def iter_snapshot_batches(path: Path | None, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """Stream a snapshot's record batches without loading it whole (for big exports)."""
    for f in _parquet_files(path):
        yield from pq.ParquetFile(f).iter_batches(columns=columns)


def snapshot_rows(path: Path | None) -> int:
    """Row count of a snapshot from Parquet metadata alone."""
    return sum(pq.read_metadata(f).num_rows for f in _parquet_files(path))


__all__ = [
    "CsvSource",
    "ImportFailure",
    "ImportResult",
    "import_csv",
    "iter_snapshot_batches",
    "read_snapshot",
    "snapshot_rows",
]
