"""Synthetic interactions shaped like MovieLens-25M (162k users, 62k items, 25M rows).

Item popularity follows a power law (Zipf-like), user activity a log-normal, and
each user's events are spread over time, so training, import and batch benchmarks
see realistic sparsity and skew without downloading anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

ML25M_USERS = 162_541
ML25M_ITEMS = 62_423
ML25M_ROWS = 25_000_095
_START = 789_652_009  # first ml-25m timestamp (1995)
_END = 1_574_327_703  # last ml-25m timestamp (2019)


def user_activity(n_users: int, n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Events per user: log-normal, at least 5 each, summing to exactly ``n_rows``."""
    weights = rng.lognormal(mean=0.0, sigma=1.2, size=n_users)
    counts = np.maximum(5, np.floor(weights / weights.sum() * n_rows)).astype(np.int64)
    diff = n_rows - int(counts.sum())
    idx = np.argsort(-counts, kind="stable")  # the same data on every CPU
    step = 1 if diff > 0 else -1
    i = 0
    while diff != 0:
        u = idx[i % n_users]
        if step > 0 or counts[u] > 5:
            counts[u] += step
            diff -= step
        i += 1
    return counts


def item_popularity(n_items: int, exponent: float = 1.1) -> np.ndarray:
    """Zipf-like probabilities over items (item 0 is the most popular)."""
    ranks = np.arange(1, n_items + 1, dtype=np.float64)
    p = ranks**-exponent
    return p / p.sum()


def interaction_batches(
    n_users: int = ML25M_USERS,
    n_items: int = ML25M_ITEMS,
    n_rows: int = ML25M_ROWS,
    seed: int = 0,
    batch_users: int = 20_000,
) -> Iterator[pa.RecordBatch]:
    """Yield USER_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP batches, a block of users at a time."""
    rng = np.random.default_rng(seed)
    counts = user_activity(n_users, n_rows, rng)
    cdf = np.cumsum(item_popularity(n_items))
    item_ids = rng.permutation(n_items) + 1  # popular items are not simply the low ids
    event_names = pa.array(["click", "watch"])
    for lo in range(0, n_users, batch_users):
        block = counts[lo : lo + batch_users]
        total = int(block.sum())
        users = np.repeat(np.arange(lo + 1, lo + 1 + len(block)), block)
        items = item_ids[np.minimum(np.searchsorted(cdf, rng.random(total)), n_items - 1)]
        start = rng.integers(_START, _END - 86_400 * 30, size=len(block))
        span = rng.integers(3_600, 86_400 * 365, size=len(block))
        offsets = rng.random(total)
        ts = np.repeat(start, block) + (offsets * np.repeat(span, block)).astype(np.int64)
        events = (rng.random(total) < 0.6).astype(np.int32)
        yield pa.record_batch(
            [
                pa.array(users).cast(pa.string()),
                pa.array(items).cast(pa.string()),
                event_names.take(pa.array(events)),
                pa.array(ts, pa.int64()),
            ],
            names=["USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"],
        )


def write_interactions_csv(path: Path, **kwargs: int) -> int:
    """Write the synthetic interactions as a Personalize-ready CSV; returns the row count."""
    rows = 0
    schema = pa.schema(
        [
            ("USER_ID", pa.string()),
            ("ITEM_ID", pa.string()),
            ("EVENT_TYPE", pa.string()),
            ("TIMESTAMP", pa.int64()),
        ]
    )
    options = pacsv.WriteOptions(quoting_style="none")
    with pacsv.CSVWriter(path, schema, write_options=options) as writer:
        for batch in interaction_batches(**kwargs):
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows
