"""Compiled (numba) per-history kernels of user-personalization's scoring hot path.

A history is a few dozen events, so as numpy calls these steps cost far more in per-call overhead
than in arithmetic (about 60 calls a request, 4 to 5 µs each on a small server): compiled, each is
one call. They are the single definition used by training and by serving.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .kernel_cache import stamp_with_both_sources

stamp_with_both_sources()  # before the decorators: kernels are compiled into personal_kernel's cache entries


def history_stats(items: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A history's distinct items, sorted, with (per event) its distinct item's position, and per distinct
    item: its newest event's position, its event count and its recency rank (0 = newest, float64)."""
    return _history_stats(np.ascontiguousarray(items, np.int64))


@njit(cache=True, nogil=True)
def _history_stats(items: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(items)
    by_item = _stable_order(items)  # by item, then by event: a run's last event is the item's newest
    runs = 0
    for j in range(n):
        if j == 0 or items[by_item[j]] != items[by_item[j - 1]]:
            runs += 1
    uniq = np.empty(runs, np.int64)
    counts = np.zeros(runs, np.int64)
    last_pos = np.empty(runs, np.int64)
    inv = np.empty(n, np.int64)
    newest_of = np.full(n, -1, np.int64)  # per event: the run it is the newest event of
    r = -1
    for j in range(n):
        e = by_item[j]
        if j == 0 or items[e] != uniq[r]:
            r += 1
            uniq[r] = items[e]
        counts[r] += 1
        last_pos[r] = e
        inv[e] = r
    for i in range(runs):
        newest_of[last_pos[i]] = i
    rank = np.empty(runs, np.float64)
    k = 0
    for e in range(n - 1, -1, -1):
        if newest_of[e] >= 0:
            rank[newest_of[e]] = k
            k += 1
    return uniq, inv, last_pos, counts, rank


def rank_weights(
    rank: np.ndarray, counts: np.ndarray, half_life: float, floor: float, tail_rank: float, enabled: bool
) -> np.ndarray:
    """``floor`` plus a bonus halving every ``half_life`` recency ranks (none from ``tail_rank`` on), times a
    repeat bonus ``1 + 0.1 log(count)``; 1 times the repeat bonus when recency is off (float32)."""
    return _rank_weights(
        np.ascontiguousarray(rank, np.float64),
        np.ascontiguousarray(counts, np.int64),
        float(half_life),
        float(floor),
        float(tail_rank),
        bool(enabled),
    )


@njit(cache=True, nogil=True)
def _rank_weights(
    rank: np.ndarray, counts: np.ndarray, half_life: float, floor: float, tail_rank: float, enabled: bool
) -> np.ndarray:
    out = np.empty(len(rank), np.float32)
    log_counts = _log_counts(counts)
    for i in range(len(rank)):
        w = 1.0
        if enabled and half_life > 0:
            decay = 0.0 if rank[i] >= tail_rank else 0.5 ** (rank[i] / half_life)
            w = floor + (1.0 - floor) * decay
        out[i] = w * (1.0 + 0.1 * log_counts[i])
    return out


@njit(cache=True, nogil=True)
def _log_counts(counts: np.ndarray) -> np.ndarray:
    """``math.log`` of each (positive) count, taken once per distinct count: a history's counts are mostly 1 or 2."""
    table = np.full(counts.max() + 1 if len(counts) else 1, np.nan)
    out = np.empty(len(counts))
    for i in range(len(counts)):
        if np.isnan(table[counts[i]]):
            table[counts[i]] = math.log(counts[i])
        out[i] = table[counts[i]]
    return out


N_FEATURES = 8


def features_from_stats(
    inv: np.ndarray,
    last_pos: np.ndarray,
    counts: np.ndarray,
    rank: np.ndarray,
    ts: np.ndarray,
    events: np.ndarray,
    conv_rows: np.ndarray,
) -> np.ndarray:
    """The repeat model's feature rows (float32, one per distinct item) from a history's statistics.

    Features: bias, same timestamp as the newest event, log time gap, log recency rank, expected
    share of event types the item has not had yet (``conv_rows``: the items' event-type conversion
    rates), its product with the same-timestamp flag, log event count, and whether any event type
    is still missing. ``inv``: each event's distinct-item position; ``last_pos``: each item's newest
    event; ``rank``: recency rank among distinct items (0 = newest).
    """
    arrays = (inv, last_pos, counts, rank, ts, events, conv_rows)
    return _features(*(np.ascontiguousarray(a, t) for a, t in zip(arrays, _FEATURE_DTYPES, strict=True)))


_FEATURE_DTYPES = (np.int64, np.int64, np.int64, np.float64, np.int64, np.int64, np.float32)


@njit(cache=True, nogil=True)
def _features(inv, last_pos, counts, rank, ts, events, conv_rows):  # features_from_stats, on typed arrays
    n = len(last_pos)
    n_events = conv_rows.shape[1]
    has = np.zeros((n, n_events), np.bool_)
    for j in range(len(inv)):
        has[inv[j], min(max(events[j], 0), n_events - 1)] = True
    t_max = -np.inf
    for j in range(len(ts)):
        t_max = max(t_max, float(ts[j]))
    feats = np.empty((n, N_FEATURES), np.float32)
    log_counts = _log_counts(counts)
    for i in range(n):
        dt = max(t_max - float(ts[last_pos[i]]), 0.0)
        same = 1.0 if dt == 0 else 0.0
        missing = np.float32(0.0)
        any_missing = 0.0
        if n_events > 1:
            for e in range(n_events):
                if not has[i, e]:
                    missing += conv_rows[i, e]
                    any_missing = 1.0
        feats[i, 0] = 1.0
        feats[i, 1] = same
        feats[i, 2] = math.log1p(dt) / 10.0
        feats[i, 3] = math.log1p(rank[i])
        feats[i, 4] = missing
        feats[i, 5] = missing * same
        feats[i, 6] = log_counts[i]
        feats[i, 7] = any_missing
    return feats


def repeat_probability(weights: np.ndarray, feats: np.ndarray) -> np.ndarray:
    """P(item re-interacted in the next interactions) for each feature row: a logistic model."""
    return _repeat_probability(np.ascontiguousarray(weights, np.float64), np.ascontiguousarray(feats, np.float32))


@njit(cache=True, nogil=True)
def _repeat_probability(weights: np.ndarray, feats: np.ndarray) -> np.ndarray:
    out = np.empty(feats.shape[0], np.float64)
    for i in range(feats.shape[0]):
        z = 0.0
        for f in range(feats.shape[1]):
            z += float(feats[i, f]) * float(weights[f])
        out[i] = 1.0 / (1.0 + math.exp(-min(max(z, -30.0), 30.0)))
    return out


@njit(cache=True, nogil=True)
def best_indices(s: np.ndarray, m: int) -> np.ndarray:
    """Indices of the ``m`` largest finite values of ``s`` (float32), best first, ties by lower index (fewer when
    fewer exist).

    A value that ``m`` of the maxima of 2048 strided groups reach bounds the ``m``-th best value from
    below (``m`` distinct values are at least that large), so only the groups whose maximum reaches that
    bound are searched, and only their few values at or above it are ranked.
    """
    n = len(s)
    groups = 2048
    everything = np.zeros(1, np.int64)
    if n < 2 * groups or m >= groups:
        return _ranked_candidates(s, everything, 1, -np.inf, m)
    maxima = np.full(groups, -np.inf, np.float32)  # NaN left out: it is never a candidate
    for start in range(0, n, groups):
        part = s[start : start + groups]
        for g in range(len(part)):
            maxima[g] = part[g] if part[g] > maxima[g] else maxima[g]
    finite = maxima[np.isfinite(maxima)]
    if len(finite) < m:
        return _ranked_candidates(s, everything, 1, -np.inf, m)
    bound = _lower_bound(finite, m)
    return _ranked_candidates(s, np.flatnonzero(maxima >= bound), groups, bound, m)


@njit(cache=True, nogil=True)
def _count_at_least(x: np.ndarray, t: float) -> int:
    c = 0
    for j in range(len(x)):  # indexed: a ``for v in x`` loop is not vectorised
        c += 1 if x[j] >= t else 0
    return c


@njit(cache=True, nogil=True)
def _lower_bound(x: np.ndarray, m: int) -> float:
    """A value that at least ``m`` of ``x`` (finite, ``m`` <= its length) reach, and not many more than ``m``.

    Bisection on the value by branch-free counts: a quickselect's unpredictable branches cost several
    times as much on the 2048 group maxima of ``best_indices`` (so does numba's ``np.partition``).
    """
    lo = hi = x[0]
    for j in range(len(x)):  # one pass: numba's min() and max() take one each, at twice the time
        lo, hi = min(lo, x[j]), max(hi, x[j])
    lo, hi = float(lo), float(hi)
    if _count_at_least(x, hi) >= m:
        return hi
    for _ in range(64):  # at least m values reach lo, fewer than m reach hi
        mid = lo + 0.5 * (hi - lo)
        if not lo < mid < hi:
            break
        c = _count_at_least(x, mid)
        if c < m:
            hi = mid
        else:
            lo = mid
            if c <= m + m // 4:
                break
    return lo


@njit(cache=True, nogil=True)
def _ranked_candidates(s: np.ndarray, hit: np.ndarray, step: int, bound: float, m: int) -> np.ndarray:
    """The ``m`` best finite values of ``s`` (float32) that reach ``bound`` at the places ``row * step + g`` (``g`` in
    ``hit``, ascending), by value then index: gathered in index order, then one stable integer sort of the values."""
    n = len(s)
    bits = s.view(np.int32)
    cand = np.empty(len(hit) * ((n + step - 1) // step), np.int64)
    keys = np.empty(len(cand), np.int64)
    c = 0
    for base in range(0, n, step):
        for g in hit:
            j = base + g
            if j < n and s[j] >= bound and np.isfinite(s[j]):
                cand[c] = j
                keys[c] = -_order_bits(bits[j])
                c += 1
    return cand[_stable_order(keys[:c])[:m]]


@njit(cache=True, nogil=True)
def _order_bits(bits: np.int32) -> np.int64:
    """A float32's bits (not NaN) as an integer in the float's order, -0.0 as 0.0."""
    k = np.int64(bits)
    if k < 0:
        k ^= 0x7FFFFFFF  # a negative float: the larger its magnitude, the lower
    return 0 if k == -1 else k


@njit(cache=True, nogil=True)
def _stable_order(keys: np.ndarray) -> np.ndarray:
    """The positions of ``keys`` (integers spanning less than 2^63) by key, equal keys in position order: a byte-wise
    radix sort over the keys' span only (numba's quicksort takes ten times as long on some few-hundred-key inputs,
    its mergesort several)."""
    n = len(keys)
    order = np.arange(n)
    if n < 2:
        return order
    lo = np.int64(keys.min())  # int64 arithmetic whatever the keys' width: no shift past it
    span = np.int64(keys.max()) - lo
    spare = np.empty(n, np.int64)
    counts = np.empty(257, np.int64)
    shift = 0
    while shift < 64 and span >> shift:
        counts[:] = 0
        for i in order:
            counts[((keys[i] - lo) >> shift & 255) + 1] += 1
        for d in range(256):
            counts[d + 1] += counts[d]
        for i in order:
            d = (keys[i] - lo) >> shift & 255
            spare[counts[d]] = i
            counts[d] += 1
        order, spare = spare, order
        shift += 8
    return order


@njit(cache=True, nogil=True)
def ranked_order(items: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Positions of the finite ``scores`` by score descending, ties by lower item (``items`` distinct); a list
    already in that order (a ranking head) is only checked."""
    ok = np.flatnonzero(np.isfinite(scores))
    ranked = len(ok) == len(scores)
    for i in range(1, len(scores)):
        if not ranked:
            break
        a, b = scores[i - 1], scores[i]
        ranked = a > b or (a == b and items[i - 1] < items[i])
    if ranked:
        return ok
    by_item = ok[np.argsort(items[ok], kind="mergesort")]
    return by_item[np.argsort(-scores[by_item], kind="mergesort")]  # stable: equal scores keep the item order


@njit(cache=True, nogil=True, fastmath=True)
def row_spread(x: np.ndarray) -> float:
    """Standard deviation of a row (float64 sums)."""
    n = len(x)
    if n == 0:
        return 0.0
    total = 0.0
    squares = 0.0
    for j in range(n):
        v = float(x[j])
        total += v
        squares += v * v
    mean = total / n
    return math.sqrt(max(squares / n - mean * mean, 0.0))


@njit(cache=True, nogil=True, fastmath=True)
def sparse_spread(n: int, vals: np.ndarray) -> float:
    """Standard deviation of a length-``n`` row that is ``vals`` at ``len(vals)`` distinct places, zero elsewhere."""
    if n == 0:
        return 0.0
    total = 0.0
    for v in vals:
        total += float(v)
    mean = total / n
    squares = 0.0
    for v in vals:
        d = float(v) - mean
        squares += d * d
    return math.sqrt(max((squares + (n - len(vals)) * mean * mean) / n, 0.0))


@njit(cache=True, nogil=True)
def transition_row(
    items: np.ndarray,
    weights: np.ndarray,
    last: int,
    slot: np.ndarray,
    dense: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
) -> np.ndarray:
    """``sum_i weights[i] * T[items[i]]`` over the ``last`` largest weights (float32): rows held dense
    (``slot`` >= 0, a row of ``dense``) are added whole, the others from their sparse entries."""
    n = dense.shape[1]
    out = np.zeros(n, np.float32)
    for i in _largest(weights, last):
        row = items[i]
        w = np.float32(weights[i])
        s = slot[row]
        if s >= 0:
            d = dense[s]
            for j in range(n):
                out[j] += w * d[j]
        else:
            for p in range(indptr[row], indptr[row + 1]):
                out[indices[p]] += w * data[p]
    return out


@njit(cache=True, nogil=True)
def _largest(x: np.ndarray, m: int) -> np.ndarray:
    """``np.argsort(-x, kind="stable")[:m]``: the positions of the ``m`` largest values, largest first, ties by
    position, NaN last; by insertion into the ``m`` kept (a few comparisons a value when ``m`` is small)."""
    top = np.empty(min(m, len(x)), np.int64)
    k = 0
    for i in range(len(x)):
        p = k
        while p > 0 and (x[i] > x[top[p - 1]] or (np.isnan(x[top[p - 1]]) and not np.isnan(x[i]))):
            p -= 1
        if p < len(top):
            k = min(k + 1, len(top))
            top[p + 1 : k] = top[p : k - 1].copy()
            top[p] = i
    return top


@njit(cache=True, nogil=True, fastmath={"contract"})
def weighted_rows(B: np.ndarray, rows: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``w @ B[rows]`` (float32) read in place, rows in ascending order and equal rows in input order
    (sequential reads of a memory-mapped matrix): no gathered copy of the rows, which costs as much as the
    product. The order is fully defined so that the sum does not depend on a sort's handling of ties.

    Four rows are read side by side (memory reads overlap: the rows come from memory, not the cache), each
    sum still taken in row order, one fused multiply-add per row, so the result is the row-by-row one's.
    """
    out = np.zeros(B.shape[1], np.float32)
    order = np.argsort(rows, kind="mergesort")  # stable: equal rows keep their input order
    n = len(order)
    i = 0
    while i + 4 <= n:
        r0, r1, r2, r3 = B[rows[order[i]]], B[rows[order[i + 1]]], B[rows[order[i + 2]]], B[rows[order[i + 3]]]
        w0, w1 = np.float32(w[order[i]]), np.float32(w[order[i + 1]])
        w2, w3 = np.float32(w[order[i + 2]]), np.float32(w[order[i + 3]])
        for j in range(len(out)):
            out[j] = (((out[j] + w0 * r0[j]) + w1 * r1[j]) + w2 * r2[j]) + w3 * r3[j]
        i += 4
    for k in order[i:]:
        wk = np.float32(w[k])
        row = B[rows[k]]
        for j in range(len(out)):
            out[j] += wk * row[j]
    return out
