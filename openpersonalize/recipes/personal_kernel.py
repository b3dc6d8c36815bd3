"""Fused (numba) per-request scoring of aws-user-personalization: one compiled call per request.

``novel_row`` is the blend ``_novel_scores`` documents (popularity prior, z-scored EASE rows, iALS
passed in, z-scored transitions) and ``ranked_head`` adds what ``best_items`` returns: the best
unseen items with the rank curve's rates and the seen items whose repeat probability reaches them.
As a chain of numpy calls a request made about forty calls and allocations, most of its cost on a
few-dozen-event history; here each step keeps the arithmetic (and rounding) it had: the kernels of
``kernels.py`` are called as they were, numpy's float32 steps are spelled out without fused
multiply-adds, and BLAS's saxpy with them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numba import njit, types
from numba.experimental import structref

from .kernel_cache import stamp_with_both_sources
from .kernels import (
    _features,
    _history_stats,
    _order_bits,
    _rank_weights,
    _repeat_probability,
    _stable_order,
    best_indices,
    ranked_order,
    row_spread,
    sparse_spread,
    transition_row,
    weighted_rows,
)

stamp_with_both_sources()  # before the decorators (kernels.py, imported first, has done it too)

TRANSITION_LAST = 10  # history items whose transition rows a request adds


class Recency(NamedTuple):
    """A recency weighting (``rank_weights``' parameters)."""

    half_life: float
    floor: float
    tail_rank: float
    enabled: bool


_MODEL_FIELDS = (
    "ease_pos",  # int64 per item: its EASE row, -1 outside EASE
    "ease_items",  # int64
    "ease_B",  # float32 (rows, rows)
    "tail_slot",  # int32 per training user: its tail profile, -1 for none
    "tail_ptr",  # int64
    "tail_items",  # int32
    "tail_w",  # float32
    "tail_F",  # float32 (profiles, rows)
    "t_slot",  # transitions (``TransitionScorer``'s arrays)
    "t_dense",
    "t_indptr",
    "t_indices",
    "t_data",
    "item_conv",  # float32 (items, event types); repeat model, empty without one
    "repeat_w",  # float64
    "curve",  # float32 unseen-item rank -> hit rate
    "recency",  # (Recency, Recency): EASE and iALS's, the transitions'
    "transition_weight",  # 0 without transitions
    "als_weight",  # 0 without iALS
)


@structref.register
class _ModelArraysType(types.StructRef):
    """numba's type of a ``ModelArrays``."""

    def preprocess_fields(self, fields: tuple) -> tuple:
        return tuple((name, types.unliteral(t)) for name, t in fields)


class ModelArrays(structref.StructRefProxy):
    """A model's arrays and blend weights as the kernels take them (typed, contiguous; empty where a part is
    absent; fields: ``_MODEL_FIELDS``), built once per loaded model.

    One structure passed by reference: as a NamedTuple, its 19 fields were typed and unboxed one by one on
    every kernel call (~5.5 us a request). The blend weights stay readable from Python (``_fold``).
    """

    transition_weight: float
    als_weight: float

    def __new__(cls, **fields: Any) -> ModelArrays:
        self = _new_model_arrays(*(fields[name] for name in _MODEL_FIELDS))
        self.transition_weight = fields["transition_weight"]
        self.als_weight = fields["als_weight"]
        return self


structref.define_proxy(ModelArrays, _ModelArraysType, list(_MODEL_FIELDS))


@njit(cache=True)
def _new_model_arrays(*fields: Any) -> ModelArrays:
    return ModelArrays(*fields)


class Fold(NamedTuple):
    """What a history brings to the blend besides its events."""

    prior: np.ndarray  # the popularity prior scaled by 1 - ``tw``
    user: int  # the training user the history extends (-1: none), for its tail profile
    live: np.ndarray  # int64 items of the events received since training
    als_row: np.ndarray  # float32 iALS fold-in scores (empty without iALS)
    tw: float  # the transition weight (0 without transitions or history)


@njit(cache=True, nogil=True)
def _weights(rank: np.ndarray, counts: np.ndarray, r: Recency) -> np.ndarray:
    return _rank_weights(rank, counts, r.half_life, r.floor, r.tail_rank, r.enabled)


@njit(cache=True, nogil=True)
def _in_sorted(sorted_values: np.ndarray, value: int) -> bool:
    at = np.searchsorted(sorted_values, value)
    return at < len(sorted_values) and sorted_values[at] == value


@njit(cache=True, nogil=True)
def ease_values(
    a: ModelArrays, items: np.ndarray, rows: np.ndarray, w: np.ndarray, user: int, live: np.ndarray
) -> np.ndarray:
    """``w @ B[rows]`` for a history's distinct EASE items (sorted), rows and weights; a training user's tail
    profile stands for its old items (``UserPersonalizationModel._ease_row``). ``live``: the items of the
    events received since training."""
    slot = a.tail_slot[user] if 0 <= user < len(a.tail_slot) else -1
    if slot < 0:
        return weighted_rows(a.ease_B, rows, w)
    tail = a.tail_items[a.tail_ptr[slot] : a.tail_ptr[slot + 1]]  # ascending, as ``items``
    tail_w = a.tail_w[a.tail_ptr[slot] : a.tail_ptr[slot + 1]]
    live_sorted = np.sort(live)
    touched = np.zeros(len(tail), np.bool_)
    for t in range(len(tail)):
        touched[t] = _in_sorted(live_sorted, tail[t])
    keep = np.ones(len(items), np.bool_)
    at = 0
    for i in range(len(items)):  # a merge of the two ascending lists
        while at < len(tail) and tail[at] < items[i]:
            at += 1
        keep[i] = not (at < len(tail) and tail[at] == items[i] and not touched[at])
    n_keep = np.count_nonzero(keep)
    n_touched = np.count_nonzero(touched)
    all_rows = np.empty(n_keep + n_touched, np.int64)
    all_w = np.empty(n_keep + n_touched, np.float32)
    k = 0
    for i in range(len(items)):
        if keep[i]:
            all_rows[k], all_w[k] = rows[i], w[i]
            k += 1
    for t in range(len(tail)):
        if touched[t]:
            all_rows[k], all_w[k] = a.ease_pos[tail[t]], -tail_w[t]
            k += 1
    summed = weighted_rows(a.ease_B, all_rows, all_w)
    profile = a.tail_F[slot]
    for j in range(len(summed)):
        summed[j] = profile[j] + summed[j]
    return summed


@njit(cache=True, nogil=True)
def _scaled_add(s: np.ndarray, cols: np.ndarray, scale: np.float32, part: np.ndarray) -> None:
    """numpy's ``s[cols] += scale * part`` in float32: a product rounded, then a sum rounded."""
    for i in range(len(cols)):
        s[cols[i]] = s[cols[i]] + np.float32(scale * part[i])


@njit(cache=True, nogil=True, fastmath={"contract"})
def _saxpy(s: np.ndarray, scale: np.float32, part: np.ndarray) -> None:
    """BLAS's ``s += scale * part`` (float32, one fused multiply-add per item)."""
    for j in range(len(s)):
        s[j] += scale * part[j]


@njit(cache=True, nogil=True)
def _add_ease(
    s: np.ndarray, a: ModelArrays, uniq: np.ndarray, w: np.ndarray, user: int, live: np.ndarray, weight: float
) -> None:
    """``s += weight * z(EASE row)`` less a constant (``_add_standardised`` over the EASE columns)."""
    n_ok = 0
    for i in range(len(uniq)):
        if a.ease_pos[uniq[i]] >= 0:
            n_ok += 1
    if n_ok == 0:
        return
    items = np.empty(n_ok, np.int64)
    rows = np.empty(n_ok, np.int64)
    ok_w = np.empty(n_ok, np.float32)
    k = 0
    for i in range(len(uniq)):
        p = a.ease_pos[uniq[i]]
        if p >= 0:
            items[k], rows[k], ok_w[k] = uniq[i], p, w[i]
            k += 1
    vals = ease_values(a, items, rows, ok_w, user, live)
    spread = sparse_spread(len(s), vals)
    if spread > 0 and weight != 0:
        _scaled_add(s, a.ease_items, np.float32(weight / spread), vals)


@njit(cache=True, nogil=True)
def _add_row(s: np.ndarray, part: np.ndarray, weight: float) -> None:
    """``s += weight * z(part)`` less a constant for a full row (``_add_standardised`` without columns)."""
    spread = row_spread(part)
    if spread > 0 and weight != 0:
        _saxpy(s, np.float32(weight / spread), part)


@njit(cache=True, nogil=True)
def _novel(a: ModelArrays, q: Fold, uniq: np.ndarray, counts: np.ndarray, rank: np.ndarray) -> np.ndarray:
    s = q.prior.copy()
    w = _weights(rank, counts, a.recency[0])
    _add_ease(s, a, uniq, w, q.user, q.live, (1.0 - q.tw) * (1.0 - a.als_weight))
    if len(q.als_row):
        _add_row(s, q.als_row, (1.0 - q.tw) * a.als_weight)
    if q.tw > 0:
        tw_w = _weights(rank, counts, a.recency[1])
        t = transition_row(uniq, tw_w, TRANSITION_LAST, a.t_slot, a.t_dense, a.t_indptr, a.t_indices, a.t_data)
        _add_row(s, t, q.tw)
    return s


@njit(cache=True, nogil=True)
def novel_row(a: ModelArrays, q: Fold, items: np.ndarray) -> np.ndarray:
    """A history's (``items``, oldest first) unseen-item scores, ``_novel_scores``' blend: a fresh float32 row."""
    uniq, _, _, counts, rank = _history_stats(items)
    return _novel(a, q, uniq, counts, rank)


@njit(cache=True, nogil=True)
def ranked_head(
    a: ModelArrays, q: Fold, items: np.ndarray, ts: np.ndarray, events: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``best_items``' head of a non-empty history, ranked (score descending, ties by lower item): the best unseen
    items with the curve's rates and the seen items whose repeat probability reaches the last rate, with theirs
    (float32); empty when no item is unseen."""
    uniq, inv, last_pos, counts, rank = _history_stats(items)
    s = _novel(a, q, uniq, counts, rank)
    for i in range(len(uniq)):
        s[uniq[i]] = -np.inf
    top = best_indices(s, min(len(a.curve), len(s) - len(uniq)))
    m = len(top)
    if m == 0:
        return top, np.zeros(0, np.float32)
    conv = np.empty((len(uniq), a.item_conv.shape[1]), np.float32)
    for i in range(len(uniq)):
        conv[i] = a.item_conv[uniq[i]]
    repeat = _repeat_probability(a.repeat_w, _features(inv, last_pos, counts, rank, ts, events, conv))
    last = a.curve[m - 1]
    n_keep = 0
    for i in range(len(uniq)):
        if np.float32(repeat[i]) >= last:
            n_keep += 1
    head = np.empty(m + n_keep, np.int64)
    scores = np.empty(m + n_keep, np.float32)
    head[:m] = top
    scores[:m] = a.curve[:m]
    k = m
    for i in range(len(uniq)):
        if np.float32(repeat[i]) >= last:
            head[k], scores[k] = uniq[i], np.float32(repeat[i])
            k += 1
    order = _head_order(head, scores, m)
    return head[order], scores[order]


@njit(cache=True, nogil=True)
def _before(s1: float, i1: int, s2: float, i2: int) -> bool:
    return s1 > s2 or (s1 == s2 and i1 < i2)


@njit(cache=True, nogil=True)
def _head_order(head: np.ndarray, scores: np.ndarray, m: int) -> np.ndarray:
    """``ranked_order(head, scores)`` for a head whose first ``m`` entries (the best unseen items with the curve's
    rates) come ranked, as they do under a decreasing curve, and the others (seen items) by ascending item: these
    few are sorted by score (stably, so ties stay by item) and merged in; any other head is sorted whole."""
    n = len(head)
    ranked = np.isfinite(scores).all()
    for i in range(1, m):
        ranked = ranked and _before(scores[i - 1], head[i - 1], scores[i], head[i])
    if not ranked:
        return ranked_order(head, scores.astype(np.float64))
    bits = scores[m:].view(np.int32)
    keys = np.empty(n - m, np.int64)
    for i in range(n - m):
        keys[i] = -_order_bits(bits[i])
    rest = m + _stable_order(keys)
    order = np.empty(n, np.int64)
    a = b = 0
    for k in range(n):
        if b == len(rest) or (a < m and _before(scores[a], head[a], scores[rest[b]], head[rest[b]])):
            order[k] = a
            a += 1
        else:
            order[k] = rest[b]
            b += 1
    return order
