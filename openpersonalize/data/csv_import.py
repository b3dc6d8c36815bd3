"""Streaming CSV -> Parquet import of a dataset, as CreateDatasetImportJob does it.

Each import writes a new immutable snapshot directory of Parquet files holding the
dataset's complete data. CSVs are streamed block by block with ``pyarrow.csv.open_csv``
using the schema's typed columns; validation is vectorised. When Arrow rejects a value
the (slow) diagnostic pass re-reads the source to name the exact row and column.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from openpersonalize.data.schema import (
    CATEGORICAL_MAX_LENGTH,
    ID_MAX_LENGTH,
    DatasetSchema,
    FieldSpec,
)

MODES = ("FULL", "INCREMENTAL")
ID_FIELDS = {"ITEMS": "ITEM_ID", "USERS": "USER_ID"}
_BLOCK_SIZE = 16 << 20  # bytes of CSV per Arrow block
_ROW_GROUP = 1 << 20  # rows per Parquet row group
_TRUE = ["true", "True", "TRUE"]
_FALSE = ["false", "False", "FALSE"]


class ImportFailure(Exception):
    """An import that cannot complete; the message names file, row and column where known."""


@dataclass
class CsvSource:
    """One CSV to import: a display name for messages and an opener for its bytes."""

    name: str
    open: Callable[[], BinaryIO]


@dataclass
class ImportResult:
    """Where the new snapshot is, rows read from the CSVs and rows in the snapshot."""

    snapshot: Path
    rows: int
    total_rows: int


@dataclass
class _Plan:
    """How one source's header maps to schema fields."""

    names: list[str]  # positional names handed to Arrow (c0, c1, ...)
    columns: dict[str, str]  # schema field name -> positional column name


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0] if len(text) < 300 else text[:300] + "..."


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
                f"{source.name}: required column {spec.name} is missing from the header (header: {','.join(header)})"
            )
    return _Plan(names=names, columns=columns)


def _open_reader(source: CsvSource, plan: _Plan, schema: DatasetSchema, raw: bool) -> pacsv.CSVStreamingReader:
    """A streaming reader of the data rows; typed columns, or all binary when ``raw``."""
    types = {
        plan.columns[f.name]: (pa.binary() if raw else f.arrow_type) for f in schema.fields if f.name in plan.columns
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


def _fail(source: CsvSource, row: int, column: str, what: str) -> ImportFailure:
    return ImportFailure(f"{source.name} row {row}, column {column}: {what}")


def _first(mask: pa.Array) -> int:
    return int(pc.index(mask, True).as_py())


def _check_batch(source: CsvSource, batch: pa.RecordBatch, plan: _Plan, schema: DatasetSchema, offset: int) -> None:
    """Vectorised per-batch checks: required values present, id and categorical lengths."""
    for spec in schema.fields:
        name = plan.columns.get(spec.name)
        if name is None:
            continue
        col = batch.column(name)
        if not spec.nullable and col.null_count:
            i = _first(col.is_null())
            raise _fail(source, offset + i + 1, spec.name, f"empty value, but {spec.name} is required")
        if spec.type != "string":
            continue
        limit = None
        if spec.name.upper() in ("USER_ID", "ITEM_ID"):
            limit = ID_MAX_LENGTH
        elif spec.categorical:
            limit = CATEGORICAL_MAX_LENGTH
        if limit is None:
            continue
        # byte length >= char length, so only compute char lengths when bytes exceed the limit
        if (pc.max(pc.binary_length(col)).as_py() or 0) > limit:
            too_long = pc.fill_null(pc.greater(pc.utf8_length(col), limit), False)
            if pc.any(too_long).as_py():
                i = _first(too_long)
                raise _fail(source, offset + i + 1, spec.name, f"value is longer than {limit} characters")


def _conform(batch: pa.RecordBatch, plan: _Plan, schema: DatasetSchema) -> pa.RecordBatch:
    """Rename to schema names, in schema order, adding null columns for absent nullable fields."""
    arrays = []
    for spec in schema.fields:
        name = plan.columns.get(spec.name)
        arrays.append(batch.column(name) if name is not None else pa.nulls(batch.num_rows, spec.arrow_type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema.arrow_schema())


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
        return f"{text[:100]!r} is not a boolean (expected true or false)"
    try:
        pa.array([text]).cast(spec.arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return f"{text[:100]!r} is not {_KIND[spec.type]}"
    return None


def _diagnose_values(source: CsvSource, plan: _Plan, schema: DatasetSchema) -> ImportFailure | None:
    """Slow path: re-read everything as raw bytes and find the first value Arrow rejected."""
    offset = 0
    for batch in _open_reader(source, plan, schema, raw=True):
        for spec in schema.fields:
            name = plan.columns.get(spec.name)
            if name is None:
                continue
            col = batch.column(name)
            try:
                text = col.cast(pa.string())
                if spec.type == "boolean":
                    _check_bools(text)
                elif spec.type != "string":
                    text.cast(spec.arrow_type)
                continue
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
                pass
            for i, value in enumerate(col.to_pylist()):
                if value is None:
                    continue
                reason = _value_error(spec, value)
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
                return ImportFailure(
                    f"{source.name} row {row_no}: expected {expected} columns as in the header, got {len(row)}"
                )
    finally:
        stream.close()
    return None


def _stream_source(
    source: CsvSource, schema: DatasetSchema, writer: pq.ParquetWriter, buffer: list[pa.RecordBatch]
) -> int:
    """Import one CSV into ``writer``; returns its data row count."""
    header = _read_header(source)
    if header is None:
        raise ImportFailure(f"{source.name}: file is empty (no header and no data rows)")
    plan = _plan(source, header, schema)
    rows = 0
    try:
        reader = _open_reader(source, plan, schema, raw=False)
        for batch in reader:
            _check_batch(source, batch, plan, schema, rows)
            rows += batch.num_rows
            buffer.append(_conform(batch, plan, schema))
            if sum(b.num_rows for b in buffer) >= _ROW_GROUP:
                writer.write_table(pa.Table.from_batches(buffer), row_group_size=_ROW_GROUP)
                buffer.clear()
    except ImportFailure:
        raise
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if "Could not skip initial" in message and rows == 0:  # header without a line end
            raise ImportFailure(f"{source.name}: no data rows (only a header)") from None
        try:
            if "CSV parse error" in message:
                found = _diagnose_parse(source, len(header))
            else:
                found = _diagnose_values(source, plan, schema)
        except Exception:  # the diagnosis is best effort; fall back to Arrow's own message
            found = None
        if found is not None:
            raise found from None
        raise ImportFailure(f"{source.name}: {_describe(exc)}") from None
    except (OSError, pa.ArrowException, UnicodeDecodeError) as exc:
        raise ImportFailure(f"{source.name}: cannot read: {_describe(exc)}") from None
    if rows == 0:
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
    dtype = dataset_type.upper()
    mode = mode.upper()
    if mode not in MODES:
        raise ImportFailure(f"Import mode {mode!r} is not valid; expected FULL or INCREMENTAL")
    if dtype not in ("INTERACTIONS", "ITEMS", "USERS"):
        raise ImportFailure(f"Importing {dataset_type} datasets is not supported yet")
    if not sources:
        raise ImportFailure("No CSV files to import")
    id_field = None
    if dtype in ID_FIELDS:
        spec = schema.field(ID_FIELDS[dtype])
        if spec is None:
            raise ImportFailure(f"Schema has no {ID_FIELDS[dtype]} field")
        id_field = spec.name

    dest_dir.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    final = dest_dir / f"snapshot-{token}"
    work = dest_dir / f".snapshot-{token}.tmp"
    work.mkdir()
    try:
        target = schema.arrow_schema()
        new_file = work / f"part-{token}.parquet"
        rows = 0
        buffer: list[pa.RecordBatch] = []
        with pq.ParquetWriter(new_file, target, compression="snappy") as writer:
            for source in sources:
                rows += _stream_source(source, schema, writer, buffer)
            if buffer:
                writer.write_table(pa.Table.from_batches(buffer), row_group_size=_ROW_GROUP)
                buffer.clear()

        old_files = _parquet_files(previous) if mode == "INCREMENTAL" else []
        for f in old_files:
            if not pq.read_schema(f).equals(target):
                raise ImportFailure(f"Previous snapshot file {f.name} does not match the dataset schema")
        if id_field is None:  # Interactions: append
            total = rows
            for f in old_files:
                _link_or_copy(f, work / f.name)
                total += pq.read_metadata(f).num_rows
        else:  # Items / Users: one row per id, the newest wins
            parts = [pq.read_table(f) for f in old_files] + [pq.read_table(new_file)]
            merged = _dedupe_last(pa.concat_tables(parts), id_field)
            new_file.unlink()
            pq.write_table(merged, work / f"part-{token}.parquet", compression="snappy")
            total = merged.num_rows
        os.rename(work, final)
        return ImportResult(snapshot=final, rows=rows, total_rows=total)
    except ImportFailure:
        shutil.rmtree(work, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise ImportFailure(f"Import failed: {_describe(exc)}") from exc


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
