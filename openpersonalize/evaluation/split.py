"""Personalize's offline-evaluation split (DESIGN.md).

A seeded 10% of users are test users; the model trains on the other users. For each
test user the oldest 90% of interactions (by TIMESTAMP) are the input history and the
newest 10% the ground truth.

POC quirk: a movie rated > 3 is both a click and a watch at the same timestamp, so the
same item can straddle the cut or repeat inside the truth. Truth is therefore the set of
*distinct* held-out items the user had not already interacted with in the input history
(already-seen items are excluded from recommendations, so they could never be hits).
By default (``dedupe_items``) each test user's interactions are first collapsed to one per
item (its first occurrence), so the 90/10 cut is over distinct items and a click/watch pair
cannot be split across input and truth. Training interactions are left untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class EvalSplit:
    """Training interactions + per-test-user input history and ground truth."""

    train: pa.Table
    test_users: list[str]
    inputs: list[tuple[np.ndarray, np.ndarray]]  # (ITEM_ID strings, TIMESTAMPs), oldest first
    truths: list[set[str]]


def split_interactions(
    interactions: pa.Table,
    seed: int = 0,
    test_user_fraction: float = 0.1,
    holdout_fraction: float = 0.1,
    include_test_inputs: bool = False,
    min_interactions: int = 2,
    dedupe_items: bool = True,
) -> EvalSplit:
    """Carve test users and their newest interactions out of ``interactions``.

    ``test_user_fraction=1.0, include_test_inputs=True`` gives the "newest 10% of every
    user held out" preparation.
    """
    users = pc.cast(interactions["USER_ID"], pa.string()).to_numpy(zero_copy_only=False)
    items = pc.cast(interactions["ITEM_ID"], pa.string()).to_numpy(zero_copy_only=False)
    ts = (
        pc.cast(interactions["TIMESTAMP"], pa.int64()).to_numpy(zero_copy_only=False)
        if "TIMESTAMP" in interactions.column_names
        else np.arange(len(users))
    )
    uniq, codes = np.unique(users, return_inverse=True)
    counts = np.bincount(codes, minlength=len(uniq))
    rng = np.random.default_rng(seed)
    eligible = np.flatnonzero(counts >= min_interactions)
    n_test = int(round(len(eligible) * test_user_fraction)) if test_user_fraction < 1 else len(eligible)
    test = np.zeros(len(uniq), bool)
    test[rng.choice(eligible, size=n_test, replace=False) if n_test < len(eligible) else eligible] = True
    order = np.lexsort((np.arange(len(ts)), ts, codes))  # stable chronological per user
    ptr = np.zeros(len(uniq) + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    keep_train = ~test[codes]
    test_users: list[str] = []
    inputs: list[tuple[np.ndarray, np.ndarray]] = []
    truths: list[set[str]] = []
    for u in np.flatnonzero(test):
        rows = order[ptr[u] : ptr[u + 1]]
        if dedupe_items:  # one interaction per item: its first occurrence
            _, first = np.unique(items[rows], return_index=True)
            rows = rows[np.sort(first)]
        n_truth = max(1, int(round(len(rows) * holdout_fraction)))
        inp, held = rows[:-n_truth], rows[-n_truth:]
        truth = set(items[held].tolist()) - set(items[inp].tolist())
        if include_test_inputs:
            keep_train[inp] = True
        if not truth:
            continue
        test_users.append(str(uniq[u]))
        inputs.append((items[inp], ts[inp]))
        truths.append(truth)
    train = interactions.filter(pa.array(keep_train))
    return EvalSplit(train, test_users, inputs, truths)
