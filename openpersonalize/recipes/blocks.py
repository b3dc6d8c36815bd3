"""Training steps that partition over users: a map over user blocks whose results add up exactly.

A recipe states *what* a block computes (a module-level function of one block, so it can run in
another process or on another machine) and how the results add up; *where* the blocks run is the
``BlockMap`` in force, which the job installs with ``use`` (``jobs/blocks.py``: Ray tasks on the
Ray executor). By default blocks run one after the other in this process. Recipes never learn
which: they only call ``current()``.

Partial results are summed in block order and in exact arithmetic (integer counts in float64 or
int64), so the sum is the same whatever ran each block and however many blocks there are: a model
trained on Ray is the single-process model to the bit.

The block size is ``BLOCK_INTERACTIONS`` stored interactions (``OPENPERSONALIZE_BLOCK_INTERACTIONS``
overrides it, e.g. to force several blocks on test data).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple, Protocol

import numpy as np
import scipy.sparse as sp

BLOCK_ENV = "OPENPERSONALIZE_BLOCK_INTERACTIONS"
BLOCK_INTERACTIONS = 1_000_000  # a block's partial Gram matrix stays a fraction of the dense one
FLOAT32_EXACT = float(1 << 24)  # integers below this are exact in float32


class BlockMap(Protocol):
    """Calls ``fn`` (a module-level, picklable function) on each item; yields the results in input order."""

    def __call__(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]: ...


def in_process(fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
    """The default ``BlockMap``: each block in turn, in this process."""
    return map(fn, items)


_current: ContextVar[BlockMap] = ContextVar("block_map", default=in_process)


def current() -> BlockMap:
    """The ``BlockMap`` blocks run on now."""
    return _current.get()


@contextmanager
def use(block_map: BlockMap) -> Iterator[None]:
    """Run the blocks of training steps inside the ``with`` on ``block_map``."""
    token = _current.set(block_map)
    try:
        yield
    finally:
        _current.reset(token)


def block_interactions() -> int:
    """Stored interactions per block (``BLOCK_ENV`` or ``BLOCK_INTERACTIONS``)."""
    return max(1, int(os.environ.get(BLOCK_ENV) or BLOCK_INTERACTIONS))


def user_blocks(indptr: np.ndarray, size: int | None = None) -> list[tuple[int, int]]:
    """Consecutive user ranges ``[lo, hi)`` of about ``size`` interactions each (a user is never split)."""
    indptr = np.asarray(indptr, np.int64)
    n, size = len(indptr) - 1, size or block_interactions()
    targets = np.arange(size, indptr[-1], size)
    cuts = np.unique(np.concatenate([[0], np.searchsorted(indptr, targets, side="left"), [n]]))
    return [(int(lo), int(hi)) for lo, hi in zip(cuts[:-1], cuts[1:], strict=True) if hi > lo]


class CsrRows(NamedTuple):
    """A block of rows of a CSR matrix, as plain arrays (what a block task is sent)."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_cols: int

    @classmethod
    def of(cls, X: sp.csr_matrix, lo: int, hi: int) -> CsrRows:
        """Rows ``[lo, hi)`` of ``X``."""
        start, end = int(X.indptr[lo]), int(X.indptr[hi])
        return cls(X.indptr[lo : hi + 1] - X.indptr[lo], X.indices[start:end], X.data[start:end], X.shape[1])

    def matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=(len(self.indptr) - 1, self.n_cols))


def partial_gram(rows: CsrRows) -> sp.csr_matrix:
    """One block's share of X^T X (sparse): float32 where that is exact (integer values whose sums stay below
    2^24, as counts do), float64 otherwise."""
    X = rows.matrix()
    data = np.asarray(X.data, np.float64)
    top = float(np.abs(data).max(initial=0.0))
    exact = np.array_equal(data, np.round(data)) and top * top * X.shape[0] < FLOAT32_EXACT
    X = X.astype(np.float32 if exact else np.float64)
    return (X.T @ X).tocsr()


def gram(X: sp.csr_matrix) -> np.ndarray:
    """X^T X as a dense float32 matrix: the users' partial Gram matrices summed block by block in float64.

    Exact for integer-valued X (counts below 2^24 as float32, as a single product gives them).
    """
    n = X.shape[1]
    G = np.zeros((n, n), np.float64)
    flat = G.reshape(-1)
    blocks = (CsrRows.of(X, lo, hi) for lo, hi in user_blocks(X.indptr))
    for part in current()(partial_gram, blocks):
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(part.indptr))
        np.add.at(flat, rows * n + part.indices, np.asarray(part.data, np.float64))  # float64 both: numpy's fast path
    return G.astype(np.float32)
