"""Next-item transitions for user-personalization (order of the history matters).

From the training sequences (each user's items in first-interaction order) count, for
every item, which items follow it within ``window`` steps (weighted 1/distance), row-
normalised: a first-order Markov / "what comes next" model. At request time the newest
history items, weighted by recency, look up their rows, so a user's last few items steer
the recommendations beyond what the order-free item-item model sees.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .kernels import transition_row

MAX_PAIRS = 30_000_000  # bounds memory on ML-25M-sized data (the window shrinks instead)


def transition_matrix(user_ptr: np.ndarray, hist_items: np.ndarray, n_items: int, window: int = 15) -> sp.csr_matrix:
    """Row-normalised (n_items x n_items) next-item matrix from chronological histories."""
    ptr = np.asarray(user_ptr, np.int64)
    items = np.asarray(hist_items, np.int64)
    users = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    _, first = np.unique(users * n_items + items, return_index=True)
    first = np.sort(first)  # first occurrence of each (user, item), chronological per user
    seq_items, seq_users = items[first], users[first]
    window = int(max(1, min(window, MAX_PAIRS // max(len(first), 1))))
    rows, cols, vals = [], [], []
    for d in range(1, window + 1):
        if len(first) <= d:
            break
        same = seq_users[:-d] == seq_users[d:]
        rows.append(seq_items[:-d][same])
        cols.append(seq_items[d:][same])
        vals.append(np.full(int(same.sum()), 1.0 / d, np.float32))
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    T = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_items), dtype=np.float32
    )
    T.sum_duplicates()
    deg = np.asarray(T.sum(axis=1)).ravel()
    deg[deg == 0] = 1.0
    return sp.csr_matrix(sp.diags((1.0 / deg).astype(np.float32)) @ T, dtype=np.float32)


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
