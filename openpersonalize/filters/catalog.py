"""Column-wise metadata indexes that filter conditions are evaluated against.

An :class:`ItemCatalog` is built once from the Items table (``ITEM_ID`` plus metadata
columns) and the model's item order (``item_ids[i]`` is item ``i``); a :class:`UserCatalog`
likewise from the Users table. Items absent from the table have null metadata, and nulls
never match a condition (``IN``, ``NOT IN`` and comparisons alike).

String columns are treated as categorical: a value ``"Action|Comedy"`` holds two values, each
matched on its own. Matching is exact (case-sensitive) by default, as Personalize documents
("ignores case only when matching event types"); pass ``case_sensitive=False`` to fold case.
Numeric columns compare numerically; numeric comparisons on a string column use the values
that parse as numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CATEGORY_SEPARATOR = "|"

Scalar = str | float


def canonical_number(value: float) -> str:
    """``1970.0`` -> ``"1970"``; other floats keep their repr."""
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return repr(value)


def to_number(value: Scalar) -> float | None:
    """A float for numbers and numeric strings, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        number = float(value.strip())
    except (ValueError, AttributeError):
        return None
    return number if math.isfinite(number) else None


@dataclass
class MetadataColumn:
    """One metadata column indexed over the model's id order."""

    name: str
    numeric: bool
    size: int
    case_sensitive: bool = True
    numbers: np.ndarray | None = None  # float64, NaN = null (numeric columns, or lazily for strings)
    postings: dict[str, np.ndarray] = field(default_factory=dict)  # value -> sorted indices
    vocab: list[str] = field(default_factory=list)  # code -> value as stored (categorical)
    offsets: np.ndarray | None = None  # CSR over indices into ``codes`` (categorical)
    codes: np.ndarray | None = None
    valid: np.ndarray | None = None  # bool: has a non-null value

    def key(self, value: str) -> str:
        """Lookup key for a categorical value (case-folded unless case-sensitive)."""
        return value if self.case_sensitive else value.casefold()

    def number_view(self) -> np.ndarray:
        """Float64 per index (NaN = null or not a number)."""
        if self.numbers is None:
            numbers = np.full(self.size, np.nan)
            assert self.offsets is not None and self.codes is not None
            parsed = np.array([to_number(v) for v in self.vocab], dtype=float) if self.vocab else np.zeros(0)
            counts = np.diff(self.offsets)
            single = np.flatnonzero(counts == 1)
            if single.size:
                numbers[single] = parsed[self.codes[self.offsets[single]]]
            self.numbers = numbers
        return self.numbers

    def isin(self, values: Iterable[Scalar]) -> np.ndarray:
        """True where the row holds any of ``values`` (nulls never match)."""
        out = np.zeros(self.size, dtype=bool)
        if self.numeric:
            assert self.numbers is not None
            wanted = [n for n in (to_number(v) for v in values) if n is not None]
            if wanted:
                out = np.isin(self.numbers, np.asarray(wanted, dtype=float))
            return out
        for value in values:
            text = canonical_number(value) if isinstance(value, float | int) else value
            hit = self.postings.get(self.key(text))
            if hit is not None:
                out[hit] = True
        return out

    def compare(self, op: str, value: float) -> np.ndarray:
        """Numeric ``column op value``; NaN (null / non-numeric) never matches."""
        numbers = self.numbers if self.numeric else self.number_view()
        assert numbers is not None
        with np.errstate(invalid="ignore"):
            if op == "<":
                return numbers < value
            if op == "<=":
                return numbers <= value
            if op == ">":
                return numbers > value
            if op == ">=":
                return numbers >= value
            if op == "=":
                return numbers == value
            if op == "!=":
                return (numbers != value) & ~np.isnan(numbers)
        raise ValueError(f"unknown comparison operator {op!r}")

    def values_at(self, index: int) -> tuple[Scalar, ...]:
        """The row's values (empty when null)."""
        if index < 0 or index >= self.size:
            return ()
        if self.numeric:
            assert self.numbers is not None
            number = float(self.numbers[index])
            return () if math.isnan(number) else (number,)
        assert self.offsets is not None and self.codes is not None
        lo, hi = int(self.offsets[index]), int(self.offsets[index + 1])
        return tuple(self.vocab[c] for c in self.codes[lo:hi])


class MetadataCatalog:
    """Metadata columns of one dataset (Items or Users), indexed in model order."""

    id_column = "ID"

    def __init__(
        self,
        table: pa.Table | None,
        ids: Sequence[str],
        *,
        case_sensitive: bool = True,
        separator: str = CATEGORY_SEPARATOR,
    ) -> None:
        self.ids = list(ids)
        self.size = len(self.ids)
        self.case_sensitive = case_sensitive
        self.separator = separator
        self.columns: dict[str, MetadataColumn] = {}
        self._folded: dict[str, str] = {}
        if table is not None and table.num_rows and self.id_column in table.column_names:
            self._build(table)

    def _build(self, table: pa.Table) -> None:
        position = {item_id: i for i, item_id in enumerate(self.ids)}
        row_ids = table[self.id_column].cast(pa.string()).to_pylist()
        row_of = np.full(self.size, -1, dtype=np.int64)
        for row, item_id in enumerate(row_ids):
            index = position.get(item_id)
            if index is not None:
                row_of[index] = row  # a later row for the same id replaces an earlier one
        indices = np.flatnonzero(row_of >= 0)
        rows = table.take(pa.array(row_of[indices]))
        for name in table.column_names:
            if name == self.id_column:
                continue
            self.columns[name] = self._column(name, rows[name].combine_chunks(), indices)
            self._folded.setdefault(name.casefold(), name)

    def _column(self, name: str, array: pa.Array, indices: np.ndarray) -> MetadataColumn:
        kind = array.type
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            array = array.cast(pa.int64())
            kind = array.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            numbers = np.full(self.size, np.nan)
            # safe=False: a long beyond 2**53 (a valid PutItems value) is rounded, never an error
            numbers[indices] = array.cast(pa.float64(), safe=False).fill_null(np.nan).to_numpy(zero_copy_only=False)
            return MetadataColumn(name, True, self.size, self.case_sensitive, numbers=numbers, valid=~np.isnan(numbers))
        strings = array.cast(pa.string())
        split = pc.split_pattern(strings, self.separator)
        flat = pc.list_flatten(split)
        parents = np.asarray(pc.list_parent_indices(split).to_numpy(zero_copy_only=False), dtype=np.int64)
        owner = indices[parents] if parents.size else np.zeros(0, dtype=np.int64)
        nonempty = pc.not_equal(flat, "").to_numpy(zero_copy_only=False) if len(flat) else np.zeros(0, bool)
        flat = flat.filter(pa.array(nonempty))
        owner = owner[nonempty]
        encoded = pc.dictionary_encode(flat) if len(flat) else None
        vocab: list[str] = encoded.dictionary.to_pylist() if encoded is not None else []
        codes = (
            np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
            if encoded is not None
            else np.zeros(0, dtype=np.int64)
        )
        order = np.lexsort((codes, owner))
        owner, codes = owner[order], codes[order]
        counts = np.bincount(owner, minlength=self.size) if owner.size else np.zeros(self.size, np.int64)
        offsets = np.zeros(self.size + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        column = MetadataColumn(
            name, False, self.size, self.case_sensitive, vocab=vocab, offsets=offsets, codes=codes, valid=counts > 0
        )
        by_code = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[by_code], np.arange(len(vocab) + 1))
        for code, value in enumerate(vocab):
            members = np.unique(owner[by_code[bounds[code] : bounds[code + 1]]])
            key = column.key(value)
            prev = column.postings.get(key)
            column.postings[key] = members if prev is None else np.union1d(prev, members)
        return column

    def column(self, name: str) -> MetadataColumn | None:
        """The column called ``name`` (exact match first, then case-insensitive)."""
        found = self.columns.get(name)
        if found is None:
            real = self._folded.get(name.casefold())
            found = self.columns.get(real) if real is not None else None
        return found

    def values_of(self, name: str, index: int | None) -> tuple[Scalar, ...]:
        """Values of field ``name`` for row ``index`` (empty when unknown or null)."""
        column = self.column(name)
        if column is None or index is None:
            return ()
        return column.values_at(index)


class ItemCatalog(MetadataCatalog):
    """Items metadata in the model's item order (``ids[i]`` is item ``i``)."""

    id_column = "ITEM_ID"


class UserCatalog(MetadataCatalog):
    """Users metadata in a fixed user order (``ids[i]`` is user ``i``)."""

    id_column = "USER_ID"
