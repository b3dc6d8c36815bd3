"""ScoredItems (a score row with its ranking head) answers exactly as top_k does; list ranking and score rounding."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from openpersonalize.runtime.cache import ArrayCache
from openpersonalize.runtime.scored import ScoredItems
from openpersonalize.runtime.scoring import SCORE_DIGITS, public_scores, rank_list, top_k


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 300),
    head=st.integers(0, 60),
    k=st.integers(1, 80),
    seed=st.integers(0, 2**31),
    masked=st.booleans(),
)
def test_head_answers_like_top_k(n, head, k, seed, masked):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 8, n).astype(np.float64)  # many ties
    scores[rng.random(n) < 0.2] = -np.inf
    allowed = rng.random(n) < 0.3 if masked else None
    want = top_k(scores, k, allowed)
    got = ScoredItems.of(scores, head).top_k(k, allowed)
    assert got.indices.tolist() == want.indices.tolist()
    assert got.scores.tolist() == want.scores.tolist()


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 300), k=st.integers(1, 80), seed=st.integers(0, 2**31), masked=st.booleans())
def test_a_model_head_answers_like_top_k_and_scores_the_row_only_when_needed(n, k, seed, masked):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 8, n).astype(np.float64)
    scores[rng.random(n) < 0.2] = -np.inf
    cut = rng.integers(0, 8)  # a head: every item scoring above the cut (all of them strictly above the rest)
    items = rng.permutation(np.flatnonzero(scores > cut))
    calls = []
    scored = ScoredItems.from_head(items, scores[items], n, lambda: calls.append(1) or scores)
    allowed = rng.random(n) < 0.3 if masked else None
    want = top_k(scores, k, allowed)
    got = scored.top_k(k, allowed)
    assert got.indices.tolist() == want.indices.tolist()
    assert got.scores.tolist() == want.scores.tolist()
    in_head = int(np.count_nonzero(allowed[items])) if masked else len(items)
    assert len(calls) == (0 if in_head >= k else 1)  # the full row only when the head falls short
    assert scored.nbytes >= n * 8


def test_array_cache_is_bounded_by_bytes():
    cache: ArrayCache[ScoredItems] = ArrayCache(3 * 800)
    rows = {i: ScoredItems.of(np.full(100, float(i))) for i in range(5)}
    for i in range(5):
        assert cache.get(i, lambda i=i: rows[i]) is rows[i]
    assert cache.bytes <= 3 * 800 and cache.misses == 5
    assert cache.get(4, lambda: rows[0]) is rows[4] and cache.hits == 1
    assert cache.get(0, lambda: rows[1]) is rows[1]  # evicted first, so computed again
    assert ArrayCache(0).get("x", lambda: rows[2]) is rows[2]


@settings(max_examples=200, deadline=None)
@given(n_items=st.integers(1, 40), n_list=st.integers(1, 60), seed=st.integers(0, 2**31), masked=st.booleans())
def test_rank_list_orders_scored_then_unscored_then_unknown(n_items, n_list, seed, masked):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 5, n_items).astype(np.float64)  # many ties
    scores[rng.random(n_items) < 0.2] = rng.choice([-np.inf, np.nan])
    indices = rng.integers(-1, n_items, n_list)
    allowed = rng.random(n_items) < 0.5 if masked else None
    order, values = rank_list(scores, indices, allowed)

    def key(pos: int) -> tuple:  # the documented order, as a plain sort key
        idx = indices[pos]
        known = idx >= 0
        finite = known and np.isfinite(scores[idx])
        return (not known, not finite, -scores[idx] if finite else 0.0, pos)

    kept = [p for p in range(n_list) if indices[p] < 0 or allowed is None or allowed[indices[p]]]
    assert order.tolist() == sorted(kept, key=key)
    n_scored = sum(1 for p in kept if indices[p] >= 0 and np.isfinite(scores[indices[p]]))
    assert values.tolist() == [scores[indices[p]] for p in order[:n_scored]]


def test_public_scores_round_as_python_does():
    values = np.random.default_rng(0).random(20_000) * np.r_[np.ones(10_000), 1e-3 * np.ones(10_000)]
    assert public_scores(values) == [round(v, SCORE_DIGITS) for v in values.tolist()]
