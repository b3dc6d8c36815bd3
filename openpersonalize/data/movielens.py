"""MovieLens preparation exactly as the Personalize POC notebooks 01/02 do it.

Interactions: every rating > 1 is a ``click`` and every rating > 3 also a ``watch``
(same timestamp), sorted by timestamp. Items: ``GENRE`` (pipe-separated categories)
and ``YEAR`` (from the title; empty where the title has none).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .schema import avro_schema

_YEAR = re.compile(r".*\((\d{4})[^)]*\)")

INTERACTIONS_SCHEMA = avro_schema(
    "Interactions",
    [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
    ],
)
ITEMS_SCHEMA = avro_schema(
    "Items",
    [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "GENRE", "type": "string", "categorical": True},
        {"name": "YEAR", "type": ["null", "int"]},
    ],
)


def _read(path: Path, types: dict[str, pa.DataType]) -> pa.Table:
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))


def prepare_interactions(ratings_csv: Path) -> pa.Table:
    """Click (rating > 1) + watch (rating > 3) events, oldest first."""
    ratings = _read(
        ratings_csv,
        {"userId": pa.string(), "movieId": pa.string(), "rating": pa.float64(), "timestamp": pa.int64()},
    )
    parts = []
    for event_type, threshold in (("click", 1.0), ("watch", 3.0)):
        kept = ratings.filter(pc.greater(ratings["rating"], threshold))
        parts.append(
            pa.table(
                {
                    "USER_ID": kept["userId"],
                    "ITEM_ID": kept["movieId"],
                    "EVENT_TYPE": pa.array([event_type] * kept.num_rows, pa.string()),
                    "TIMESTAMP": kept["timestamp"],
                }
            )
        )
    table = pa.concat_tables(parts)
    order = np.argsort(table["TIMESTAMP"].to_numpy(), kind="stable")
    return table.take(pa.array(order))


def prepare_items(movies_csv: Path) -> pa.Table:
    """ITEM_ID, GENRE (pipe-separated) and YEAR (null where the title has no year)."""
    movies = _read(movies_csv, {"movieId": pa.string(), "title": pa.string(), "genres": pa.string()})
    years = []
    for title in movies["title"].to_pylist():
        match = _YEAR.match(title or "")
        years.append(int(match.group(1)) if match else None)
    return pa.table({"ITEM_ID": movies["movieId"], "GENRE": movies["genres"], "YEAR": pa.array(years, pa.int32())})


def titles(movies_csv: Path) -> dict[str, str]:
    """movieId -> title, for printing readable recommendations."""
    movies = _read(movies_csv, {"movieId": pa.string(), "title": pa.string()})
    return dict(zip(movies["movieId"].to_pylist(), movies["title"].to_pylist(), strict=True))


def write_csv(table: pa.Table, path: Path) -> Path:
    """Write a prepared table as the CSV the notebooks upload (header, no index)."""
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))
    return path
