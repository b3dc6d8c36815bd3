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


def transition_scores(T: sp.csr_matrix, items: np.ndarray, weights: np.ndarray, last: int = 10) -> np.ndarray:
    """Recency-weighted sum of the transition rows of the ``last`` most weighted history items."""
    items = np.asarray(items, np.int64)
    w = np.asarray(weights, np.float64)
    keep = np.argsort(-w, kind="stable")[:last]
    rows = T[items[keep]]
    return np.asarray(rows.T @ w[keep]).ravel()


class TransitionScorer:
    """``transition_scores`` with the densest rows of ``T`` also held as dense float32 rows.

    A dense row is added with one vectorised pass over the catalogue instead of a scatter of
    tens of thousands of entries. The sums are the same float64 operations in the same order
    (row by row, newest-weighted first; every product of two float32 values is exact in float64,
    and adding the zeros of a dense row changes nothing), so the result equals
    ``transition_scores`` bit for bit.
    """

    def __init__(self, T: sp.csr_matrix, max_dense_bytes: int = 64 << 20) -> None:
        self.indptr = np.asarray(T.indptr, np.int64)
        self.indices = np.asarray(T.indices)
        self.data = np.asarray(T.data)
        self.n = int(T.shape[1])
        nnz = np.diff(self.indptr)
        # dense pays off once a row holds more than ~1/8 of the catalogue; a row with duplicate
        # entries stays sparse so they are still added one by one
        heavy = np.array([r for r in np.flatnonzero(nnz * 8 > self.n).tolist() if self._distinct(r)], np.int64)
        cap = max_dense_bytes // max(4 * self.n, 1)
        if len(heavy) > cap:
            heavy = np.sort(heavy[np.argsort(-nnz[heavy], kind="stable")[:cap]])
        self.slot = np.full(T.shape[0], -1, np.int64)
        self.slot[heavy] = np.arange(len(heavy))
        self.dense = np.zeros((len(heavy), self.n), np.float32)
        for s, r in enumerate(heavy.tolist()):
            lo, hi = self.indptr[r], self.indptr[r + 1]
            self.dense[s, self.indices[lo:hi]] = self.data[lo:hi]

    def _distinct(self, row: int) -> bool:
        cols = self.indices[self.indptr[row] : self.indptr[row + 1]]
        return len(np.unique(cols)) == len(cols)

    def scores(self, items: np.ndarray, weights: np.ndarray, last: int = 10) -> np.ndarray:
        """Equal to ``transition_scores(T, items, weights, last)``."""
        items = np.asarray(items, np.int64)
        w = np.asarray(weights, np.float64)
        keep = np.argsort(-w, kind="stable")[:last]
        out: np.ndarray | None = None  # 0 + x == x: a leading dense row is written, not added
        tmp: np.ndarray | None = None
        pending: list[tuple[int, float]] = []
        for row, weight in zip(items[keep].tolist(), w[keep].tolist(), strict=True):
            s = int(self.slot[row])
            if s < 0:
                pending.append((row, weight))
                continue
            if out is None and not pending:
                out = np.multiply(self.dense[s], weight, dtype=np.float64)
                continue
            if out is None:
                out = np.zeros(self.n, np.float64)
            self._scatter(out, pending)
            pending = []
            if tmp is None:
                tmp = np.empty(self.n, np.float64)
            np.multiply(self.dense[s], weight, out=tmp, dtype=np.float64)
            out += tmp
        if out is None:
            out = np.zeros(self.n, np.float64)
        self._scatter(out, pending)
        return out

    def _scatter(self, out: np.ndarray, rows: list[tuple[int, float]]) -> None:
        """Add sparse rows (in order, duplicates one by one) times their weights into ``out``."""
        if not rows:
            return
        parts = [(self.indptr[r], self.indptr[r + 1], wt) for r, wt in rows]
        idx = np.concatenate([self.indices[lo:hi] for lo, hi, _ in parts])
        vals = np.concatenate([np.multiply(self.data[lo:hi], wt, dtype=np.float64) for lo, hi, wt in parts])
        np.add.at(out, idx, vals)
