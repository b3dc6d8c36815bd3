"""The compiled scoring kernels against plain numpy definitions of the same quantities."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from openpersonalize.recipes.kernels import (
    _largest,
    _stable_order,
    features_from_stats,
    history_stats,
    rank_weights,
    repeat_probability,
    weighted_rows,
)


def _reference_stats(items: np.ndarray):
    """The numpy definition: distinct items, each event's item position, newest event, count, recency rank."""
    uniq, inv, counts = np.unique(items, return_inverse=True, return_counts=True)
    last_pos = np.array([np.flatnonzero(items == u).max() for u in uniq], np.int64)
    rank = np.empty(len(uniq))
    rank[np.argsort(-last_pos)] = np.arange(len(uniq))
    return uniq, inv, last_pos, counts, rank


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 30), st.integers(0, 2**31 - 1)), min_size=1, max_size=80))
def test_history_stats_match_numpy(items):
    items = np.array(items, np.int64)
    for got, want in zip(history_stats(items), _reference_stats(items), strict=True):
        assert np.array_equal(got, want)


def test_rank_weights_follow_the_formula():
    rank = np.arange(0, 80, dtype=np.float64)
    counts = np.arange(1, 81) % 7 + 1  # repeated counts: their logarithm is taken once
    w = rank_weights(rank, counts, half_life=2.0, floor=0.05, tail_rank=60.0, enabled=True)
    decay = np.where(rank >= 60, 0.0, 0.5 ** (rank / 2.0))
    assert np.allclose(w, (0.05 + 0.95 * decay) * (1 + 0.1 * np.log(counts)), rtol=1e-6)
    off = rank_weights(rank, counts, half_life=2.0, floor=0.05, tail_rank=60.0, enabled=False)
    assert np.allclose(off, 1 + 0.1 * np.log(counts), rtol=1e-6)


def test_features_and_repeat_probability():
    # events: item 7 clicked then watched, item 3 clicked twice, item 9 watched last (same timestamp as newest)
    items = np.array([7, 3, 7, 3, 9])
    ts = np.array([10, 20, 30, 40, 40])
    events = np.array([0, 0, 1, 0, 1])
    uniq, inv, last_pos, counts, rank = history_stats(items)
    conv = np.array([[0.9, 0.4], [0.8, 0.6], [0.5, 0.5]], np.float32)  # rows of uniq = [3, 7, 9]
    f = features_from_stats(inv, last_pos, counts, rank, ts, events, conv)
    assert uniq.tolist() == [3, 7, 9]
    assert f[:, 0].tolist() == [1, 1, 1]
    assert f[:, 1].tolist() == [1, 0, 1]  # same timestamp as the newest event
    assert np.allclose(f[:, 2], np.log1p([0, 10, 0]) / 10)
    assert np.allclose(f[:, 3], np.log1p(rank))
    assert np.allclose(f[:, 4], [0.4, 0.0, 0.5])  # conversion of the event types not had yet
    assert np.allclose(f[:, 6], np.log([2, 2, 1]))
    assert f[:, 7].tolist() == [1, 0, 1]
    w = np.array([-1.0, 2.0, 0.5, -0.3, 1.5, 0.2, 0.1, -2.0], np.float32)
    z = np.clip(f.astype(np.float64) @ w.astype(np.float64), -30, 30)
    assert np.allclose(repeat_probability(w, f), 1 / (1 + np.exp(-z)), rtol=1e-12)


def test_weighted_rows_equal_the_product():
    rng = np.random.default_rng(2)
    B = rng.normal(size=(300, 120)).astype(np.float32)
    rows = rng.choice(300, 40, replace=False)
    w = rng.random(40).astype(np.float32)
    assert np.allclose(weighted_rows(B, rows, w), w @ B[rows], rtol=1e-4, atol=1e-4)
    assert not weighted_rows(B, rows[:0], w[:0]).any()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(-5, 5), st.integers(-(2**61), 2**61)), max_size=300))
def test_stable_order_is_a_stable_argsort(keys):
    keys = np.array(keys, np.int64)
    assert np.array_equal(_stable_order(keys), np.argsort(keys, kind="stable"))
    narrow = (keys % 2**31).astype(np.int32)
    assert np.array_equal(_stable_order(narrow), np.argsort(narrow, kind="stable"))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, -0.0, 0.5, 1.0, 2.0, np.nan, np.inf, -np.inf, -1.0]), max_size=40),
    st.integers(0, 12),
)
def test_largest_is_the_head_of_a_stable_descending_argsort(x, m):
    x = np.array(x, np.float64)
    assert np.array_equal(_largest(x, m), np.argsort(-x, kind="stable")[:m])
