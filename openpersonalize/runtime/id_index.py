"""Item id -> model index for long request lists (GetPersonalizedRanking's 500 ids), compiled.

A Python dict lookup of a fresh request string touches three scattered cache lines (index slot,
entry, key object); after a request's scoring has swept the caches each is a memory miss, and 500
of them were the largest single cost of a 500-item ranking. Here the catalogue's ids live in one
UTF-8 buffer with an open-addressing table of positions, and a request's ids are hashed first and
probed together, so the misses overlap instead of queueing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import repeat

import numpy as np
from numba import njit

_SEPARATOR = "\x00"


class IdIndex:
    """Positions of string ids in a fixed list (-1 for an id not in it); exact, as a dict lookup is."""

    def __init__(self, ids: Sequence[str], as_dict: Mapping[str, int]) -> None:
        """``ids`` are distinct; ``as_dict`` maps each to its position (used for lists the buffer cannot carry)."""
        encoded = [i.encode() for i in ids]
        self._keys = np.frombuffer(b"".join(encoded), np.uint8) if encoded else np.zeros(0, np.uint8)
        self._starts = np.zeros(len(encoded) + 1, np.int64)
        self._starts[1:] = np.cumsum([len(e) for e in encoded])
        size = 1 << max(4, (2 * len(encoded)).bit_length())  # load factor at most 1/2: short probe runs
        self._table = _build(self._keys, self._starts, size)
        self._dict = as_dict

    def positions(self, ids: Sequence[str]) -> np.ndarray:
        """int64 position of each id, -1 where unknown."""
        if not ids:
            return np.zeros(0, np.int64)
        joined = _SEPARATOR.join(ids)
        if joined.count(_SEPARATOR) != len(ids) - 1:  # an id holding the separator: plain lookups
            return np.fromiter(map(self._dict.get, ids, repeat(-1)), np.int64, len(ids))
        query = np.frombuffer(joined.encode(), np.uint8)
        return _lookup(self._table, self._keys, self._starts, query, len(ids))


@njit(cache=True, nogil=True)
def _hash(buf: np.ndarray, lo: int, hi: int) -> np.uint64:
    """FNV-1a of ``buf[lo:hi]``."""
    h = np.uint64(14695981039346656037)
    for i in range(lo, hi):
        h = (h ^ np.uint64(buf[i])) * np.uint64(1099511628211)
    return h


@njit(cache=True, nogil=True)
def _build(keys: np.ndarray, starts: np.ndarray, size: int) -> np.ndarray:
    table = np.full(size, -1, np.int32)
    mask = np.uint64(size - 1)
    for k in range(len(starts) - 1):
        slot = _hash(keys, starts[k], starts[k + 1]) & mask
        while table[slot] >= 0:
            slot = (slot + np.uint64(1)) & mask
        table[slot] = k
    return table


@njit(cache=True, nogil=True)
def _lookup(table: np.ndarray, keys: np.ndarray, starts: np.ndarray, query: np.ndarray, n: int) -> np.ndarray:
    mask = np.uint64(len(table) - 1)
    lo = np.empty(n, np.int64)
    hi = np.empty(n, np.int64)
    slot = np.empty(n, np.uint64)
    a = 0
    j = 0
    for i in range(len(query) + 1):  # split on the separator (0) and hash every id first
        if i == len(query) or query[i] == 0:
            lo[j], hi[j], slot[j] = a, i, _hash(query, a, i) & mask
            j += 1
            a = i + 1
    first = np.empty(n, np.int64)
    for j in range(n):  # independent loads: their cache misses overlap
        first[j] = table[slot[j]]
    out = np.full(n, -1, np.int64)
    for j in range(n):
        s, k = slot[j], first[j]
        length = hi[j] - lo[j]
        while k >= 0:
            a0 = starts[k]
            if starts[k + 1] - a0 == length:
                t = 0
                while t < length and keys[a0 + t] == query[lo[j] + t]:
                    t += 1
                if t == length:
                    out[j] = k
                    break
            s = (s + np.uint64(1)) & mask
            k = table[s]
    return out
