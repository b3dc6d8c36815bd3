"""Personalize's offline-evaluation split (DESIGN.md and the Personalize Developer Guide).

A seeded 10% of users are test users; the model trains on the other users. For each
test user the oldest 90% of *interactions* (by TIMESTAMP, ties in dataset order) are the
input history and the newest 10% the ground truth.

Two protocols, chosen by ``protocol``:

``"personalize"`` (default; what GetSolutionMetrics reports): the documented protocol,
as literally as it is written. The cut is over interaction rows, and the truth is the set
of items in the newest 10% of rows, *including* items the user already interacted with in
the input: the Developer Guide compares the recommendations with "the actual interactions
in the newest 10% of each user's data", and Personalize never removes already-interacted
items from recommendations on its own (that is what interaction filters are for). So the
recommendations are scored as the model ranks them, with no seen-item exclusion. On the
POC's click + watch preparation this means the watch copy of an item clicked in the input
can be a truth item; a model may learn such re-interactions from the training data.

``"strict"``: each test user's interactions are first collapsed to one per item (its first
occurrence), the 90/10 cut is over distinct items, truth items already in the input are
dropped, and already-seen items are never recommended. Stricter than Personalize's; kept
as a second table in ``benchmarks/quality.py``.

Training interactions are left untouched in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from openpersonalize.data.training_data import dictionary_codes

PROTOCOLS = ("personalize", "strict")


@dataclass
class EvalSplit:
    """Training interactions + per-test-user input history and ground truth.

    The training interactions are ``source``'s rows where ``train_rows`` is set; ``train`` filters them
    on each use, so no 90% copy of the interactions outlives the step that reads it.
    """

    source: pa.Table
    train_rows: np.ndarray  # bool per row of ``source``
    test_users: list[str]
    inputs: list[tuple[np.ndarray, np.ndarray]]  # (ITEM_ID strings, TIMESTAMPs), oldest first
    truths: list[set[str]]
    exclude_seen: bool = False  # strict protocol: never recommend items in the input history
    input_events: list[np.ndarray] = field(default_factory=list)  # EVENT_TYPE per input row ("" when none)

    @property
    def train(self) -> pa.Table:
        """The training interactions (a new table each time: read it once and let it go)."""
        return self.source.filter(pa.array(self.train_rows))


def split_interactions(
    interactions: pa.Table,
    seed: int = 0,
    test_user_fraction: float = 0.1,
    holdout_fraction: float = 0.1,
    include_test_inputs: bool = False,
    min_interactions: int = 2,
    protocol: str = "personalize",
) -> EvalSplit:
    """Carve test users and their newest interactions out of ``interactions``.

    ``test_user_fraction=1.0, include_test_inputs=True`` gives the "newest 10% of every
    user held out" preparation.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"Unknown evaluation protocol {protocol!r}; use one of {PROTOCOLS}.")
    strict = protocol == "strict"
    codes, uniq = _sorted_codes(interactions["USER_ID"])
    counts = np.bincount(codes, minlength=len(uniq))
    rng = np.random.default_rng(seed)
    eligible = np.flatnonzero(counts >= min_interactions)
    n_test = int(round(len(eligible) * test_user_fraction)) if test_user_fraction < 1 else len(eligible)
    test = np.zeros(len(uniq), bool)
    test[rng.choice(eligible, size=n_test, replace=False) if n_test < len(eligible) else eligible] = True
    keep_train = ~test[codes]
    rows = np.flatnonzero(~keep_train)  # only the test users' rows are read as strings
    items, ts, events = _test_rows(interactions, rows)
    order = np.lexsort((rows, ts, codes[rows]))  # stable chronological per user
    del codes
    ptr = np.zeros(int(test.sum()) + 1, np.int64)
    np.cumsum(counts[test], out=ptr[1:])
    test_users: list[str] = []
    inputs: list[tuple[np.ndarray, np.ndarray]] = []
    input_events: list[np.ndarray] = []
    truths: list[set[str]] = []
    for n, u in enumerate(np.flatnonzero(test)):
        mine = order[ptr[n] : ptr[n + 1]]
        if strict:  # one interaction per item: its first occurrence
            _, first = np.unique(items[mine], return_index=True)
            mine = mine[np.sort(first)]
        n_truth = max(1, int(round(len(mine) * holdout_fraction)))
        inp, held = mine[:-n_truth], mine[-n_truth:]
        if include_test_inputs:
            keep_train[rows[inp]] = True
        truth = set(items[held].tolist())
        if strict:
            truth -= set(items[inp].tolist())
        if not truth:
            continue
        test_users.append(uniq[u])
        inputs.append((items[inp], ts[inp]))
        input_events.append(events[inp])
        truths.append(truth)
    return EvalSplit(
        interactions, keep_train, test_users, inputs, truths, exclude_seen=strict, input_events=input_events
    )


def _sorted_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Each row's rank among the distinct ids in string order, and those ids (``np.unique``'s answer,
    from int32 dictionary codes instead of a Python string per row)."""
    codes, values = dictionary_codes(pc.cast(column, pa.string()))
    uniq = values.tolist()
    order = sorted(range(len(uniq)), key=uniq.__getitem__)
    rank = np.empty(len(uniq), np.int32)
    rank[order] = np.arange(len(uniq), dtype=np.int32)
    return rank[codes], [uniq[i] for i in order]


def _test_rows(interactions: pa.Table, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ITEM_ID (str objects), TIMESTAMP (int64; the row number without one) and EVENT_TYPE ("" when none)
    of the given rows."""
    taken = interactions.take(pa.array(rows, pa.int64()))
    items = pc.cast(taken["ITEM_ID"], pa.string()).to_numpy(zero_copy_only=False)
    names = taken.column_names
    ts = pc.cast(taken["TIMESTAMP"], pa.int64()).to_numpy(zero_copy_only=False) if "TIMESTAMP" in names else rows
    events = (
        pc.cast(taken["EVENT_TYPE"], pa.string()).fill_null("").to_numpy(zero_copy_only=False)
        if "EVENT_TYPE" in names
        else np.full(len(rows), "", dtype=object)
    )
    return items, ts.astype(np.int64, copy=False), events
