"""Next-item transitions for user-personalization (order of the history matters).

From the training sequences (each user's items in first-interaction order) count, for
every item, which items follow it within ``window`` steps (weighted 1/distance), row-
normalised: a first-order Markov / "what comes next" model. At request time the newest
history items, weighted by recency, look up their rows, so a user's last few items steer
the recommendations beyond what the order-free item-item model sees.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from . import blocks
from .blocks import user_blocks
from .kernels import transition_row

MAX_PAIRS = 30_000_000  # bounds memory on ML-25M-sized data (the window shrinks instead)
MAX_WINDOW = 20  # lcm(1..20) / distance stays an int64 weight with room for any count


class Histories(NamedTuple):
    """A block of users' chronological histories (``user_ptr`` from 0) and the transition window."""

    user_ptr: np.ndarray
    items: np.ndarray
    n_items: int
    window: int


def _first_items(user_ptr: np.ndarray, items: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's distinct items in first-interaction order, with the user of each."""
    users = np.repeat(np.arange(len(user_ptr) - 1), np.diff(user_ptr))
    _, first = np.unique(users * n_items + items, return_index=True)
    first = np.sort(first)  # first occurrence of each (user, item), chronological per user
    return items[first], users[first]


def transition_counts(block: Histories) -> sp.csr_matrix:
    """One user block's transitions: ``lcm(1..window) / d`` for each item followed by another ``d`` steps later.

    Integer weights (int64), so blocks add up exactly in any order; their ratios are the 1/d weights.
    """
    seq_items, seq_users = _first_items(block.user_ptr, block.items, block.n_items)
    scale = math.lcm(*range(1, block.window + 1))
    rows, cols, vals = [], [], []
    for d in range(1, block.window + 1):
        if len(seq_items) <= d:
            break
        same = seq_users[:-d] == seq_users[d:]
        rows.append(seq_items[:-d][same])
        cols.append(seq_items[d:][same])
        vals.append(np.full(int(same.sum()), scale // d, np.int64))
    shape = (block.n_items, block.n_items)
    if not rows:
        return sp.csr_matrix(shape, dtype=np.int64)
    T = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape)
    T.sum_duplicates()
    return T


def transition_matrix(user_ptr: np.ndarray, hist_items: np.ndarray, n_items: int, window: int = 15) -> sp.csr_matrix:
    """Row-normalised (n_items x n_items) next-item matrix from chronological histories.

    Counted per user block (``blocks.current()``) and summed exactly, then normalised in float64.
    """
    if window > MAX_WINDOW:
        raise ValueError(f"A transition window of {window} is above {MAX_WINDOW}.")
    ptr = np.asarray(user_ptr, np.int64)
    items = np.asarray(hist_items, np.int64)
    parts = [Histories(ptr[lo : hi + 1] - ptr[lo], items[ptr[lo] : ptr[hi]], n_items, 0) for lo, hi in user_blocks(ptr)]
    n_first = sum(len(_first_items(*part[:3])[0]) for part in parts)
    window = int(max(1, min(window, MAX_PAIRS // max(n_first, 1))))
    T = sp.csr_matrix((n_items, n_items), dtype=np.int64)
    for part in blocks.current()(transition_counts, (part._replace(window=window) for part in parts)):
        T = T + part
    T.sum_duplicates()
    deg = np.asarray(T.sum(axis=1), np.float64).ravel()
    rows = np.repeat(np.arange(n_items), np.diff(T.indptr))
    return sp.csr_matrix(((T.data / deg[rows]).astype(np.float32), T.indices, T.indptr), shape=T.shape)


class TransitionScorer:
    """Recency-weighted sums of the transition rows of a history's ``last`` most weighted items.

    The densest rows of ``T`` are also held as dense float32 rows and added whole; the others are
    scattered from their entries. A row is held dense once it fills more than 1/8 of the catalogue.
    """

    def __init__(self, T: sp.csr_matrix, max_dense_bytes: int = 64 << 20) -> None:
        self.indptr = np.asarray(T.indptr, np.int64)
        self.indices = np.asarray(T.indices)
        self.data = np.asarray(T.data, np.float32)
        self.n = int(T.shape[1])
        nnz = np.diff(self.indptr)
        heavy = np.flatnonzero(nnz * 8 > self.n)
        cap = max_dense_bytes // max(4 * self.n, 1)
        if len(heavy) > cap:
            heavy = np.sort(heavy[np.argsort(-nnz[heavy], kind="stable")[:cap]])
        self.slot = np.full(T.shape[0], -1, np.int64)
        self.slot[heavy] = np.arange(len(heavy))
        self.dense = np.zeros((len(heavy), self.n), np.float32)
        for s, r in enumerate(heavy.tolist()):
            lo, hi = self.indptr[r], self.indptr[r + 1]
            np.add.at(self.dense[s], self.indices[lo:hi], self.data[lo:hi])

    def scores(self, items: np.ndarray, weights: np.ndarray, last: int = 10) -> np.ndarray:
        """``sum_i weights[i] * T[items[i]]`` over the ``last`` largest weights, as a fresh float32 row."""
        return transition_row(
            np.ascontiguousarray(items, np.int64),
            np.ascontiguousarray(weights, np.float64),
            last,
            self.slot,
            self.dense,
            self.indptr,
            self.indices,
            self.data,
        )
