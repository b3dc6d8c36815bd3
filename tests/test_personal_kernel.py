"""The fused user-personalization kernels (recipes/personal_kernel.py) equal the step-by-step computation to the bit.

The reference below is the blend as numpy and BLAS compute it, one call per step, with the row-by-row EASE
sum: ``_novel_scores``, ``best_items`` and ``score_item`` must match it exactly (not within a tolerance), over
every training user, histories with live events (some on items of a user's tail profile) and anonymous ones,
for v1 (EASE + transitions) and an iALS blend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numba import njit
from scipy.linalg import blas

from openpersonalize.data.movielens import prepare_interactions, prepare_items
from openpersonalize.data.training_data import TrainingData, UserHistory
from openpersonalize.recipes.artifacts import load_model
from openpersonalize.recipes.base import param
from openpersonalize.recipes.kernels import (
    best_indices,
    history_stats,
    rank_weights,
    row_spread,
    sparse_spread,
    weighted_rows,
)
from openpersonalize.recipes.personal_kernel import _head_order
from openpersonalize.recipes.user_personalization import (
    UserPersonalizationModel,
    UserPersonalizationRecipe,
    _history_stats,
)

V1 = {"ease_max_items": "2500", "transition_weight": "0.15"}
ALS = {**V1, "als_weight": "0.3", "hidden_dimension": "16", "als_iterations": "3"}


@njit(fastmath=True)
def _row_by_row(B: np.ndarray, rows: np.ndarray, w: np.ndarray) -> np.ndarray:
    out = np.zeros(B.shape[1], np.float32)
    for i in np.argsort(rows, kind="stable"):
        wi = np.float32(w[i])
        row = B[rows[i]]
        for j in range(len(out)):
            out[j] += wi * row[j]
    return out


def _saxpy(s: np.ndarray, part: np.ndarray, weight: float) -> None:
    spread = row_spread(part)
    if spread > 0 and weight != 0:
        out = blas.saxpy(np.asarray(part, np.float32), s, a=weight / spread)
        if out is not s:
            s[:] = out


def _ease_row(model: UserPersonalizationModel, items, rows, w, history: UserHistory) -> np.ndarray:
    a = model.arrays
    B = np.asarray(a["ease_B"])
    slot = int(a["tail_slot"][history.user]) if "tail_slot" in a and 0 <= history.user < len(a["tail_slot"]) else -1
    if slot < 0:
        return _row_by_row(B, rows, w)
    lo, hi = int(a["tail_ptr"][slot]), int(a["tail_ptr"][slot + 1])
    tail = np.asarray(a["tail_items"][lo:hi], np.int64)
    live = history.live_items
    touched = np.isin(tail, live) if live is not None and len(live) else np.zeros(len(tail), bool)
    keep = ~np.isin(items, tail[~touched], assume_unique=True)
    rows = np.concatenate([rows[keep], np.asarray(a["ease_pos"])[tail[touched]]])
    w = np.concatenate([w[keep], -np.asarray(a["tail_w"][lo:hi])[touched]])
    return np.asarray(a["tail_F"][slot]) + _row_by_row(B, rows, w)


def _novel(model: UserPersonalizationModel, history: UserHistory, prior: np.ndarray, tw: float) -> np.ndarray:
    a = model.arrays
    uniq, _, _, counts, rank = history_stats(history.items)
    p = model._recency_params()
    w = rank_weights(rank, counts, p["half_life"], p["floor"], 30 * p["half_life"], p["enabled"])
    als_w = float(model.meta.get("als_weight", 0.0))
    s = prior.copy()
    pos = np.asarray(a["ease_pos"])[uniq]
    ok = pos >= 0
    if ok.any():
        vals = _ease_row(model, uniq[ok], pos[ok], w[ok], history)
        spread = sparse_spread(model.n_items, vals)
        if spread > 0:
            s[np.asarray(a["ease_items"])] += np.float32((1.0 - tw) * (1.0 - als_w) / spread) * vals
    if als_w > 0 and len(history):
        _saxpy(s, model._als_row(uniq, w), (1.0 - tw) * als_w)
    if tw > 0:
        _saxpy(s, model._transition_scorer().scores(uniq, rank_weights(rank, counts, 1.0, 0.0, 30.0, True)), tw)
    return s


def _novel_scores(model: UserPersonalizationModel, history: UserHistory) -> np.ndarray:
    tw = param(model.hyperparameters, "transition_weight") if len(history) else 0.0
    return _novel(model, history, model._prior(1.0 - tw), tw)


def _best_items(model: UserPersonalizationModel, history: UserHistory) -> tuple[np.ndarray, np.ndarray]:
    s = _novel_scores(model, history).astype(np.float64)
    uniq = np.unique(history.items)
    s[uniq] = -np.inf
    finite = np.flatnonzero(np.isfinite(s))
    top = finite[np.lexsort((finite, -s[finite]))][: len(model.arrays["novel_curve"])]
    rates = np.asarray(model.arrays["novel_curve"][: len(top)], np.float32)
    repeat = model._repeat_scores(history, _history_stats(history)).astype(np.float32)
    keep = repeat >= rates[-1]
    items, scores = np.concatenate([top, uniq[keep]]), np.concatenate([rates, repeat[keep]])
    order = np.lexsort((items, -scores.astype(np.float64)))  # ranked: score descending, ties by lower item
    return items[order], scores[order]


def _histories(model: UserPersonalizationModel) -> list[UserHistory]:
    rng = np.random.default_rng(7)
    out = [model.training_history(str(u)) for u in model.user_ids.tolist()]
    for base in out[::9]:  # live events after training: some on the user's own (tail) items, some new
        live = np.concatenate([rng.choice(base.items, 4), rng.integers(0, model.n_items, 4)])
        stamps = np.concatenate([base.timestamps, int(base.timestamps.max()) + 1 + np.arange(len(live))])
        events = [*base.event_types, *["click"] * len(live)]
        out.append(UserHistory(np.concatenate([base.items, live]), stamps, events, base.user, live))
    for base in out[:200:13]:  # anonymous: no training user, no tail profile
        out.append(UserHistory(base.items[-15:], base.timestamps[-15:], list(base.event_types[-15:])))
    return out + [UserHistory(np.array([model.n_items - 1], np.int64))]


@pytest.fixture(scope="module")
def data(movielens_dir: Path) -> TrainingData:
    ints, items = prepare_interactions(movielens_dir / "ratings.csv"), prepare_items(movielens_dir / "movies.csv")
    return TrainingData.from_tables(ints, items)


@pytest.mark.parametrize("params", [V1, ALS], ids=["v1", "als"])
def test_fused_scoring_equals_the_step_by_step_blend(data: TrainingData, params, tmp_path: Path) -> None:
    fitted = UserPersonalizationRecipe().fit(data, params)
    fitted.save(tmp_path / "m")
    model = load_model(tmp_path / "m")  # memory-mapped, as served
    assert "tail_F" in model.arrays and "transitions" in model.sparse
    histories = _histories(model)
    assert sum(h.live_items is not None and model.arrays["tail_slot"][h.user] >= 0 for h in histories) >= 5
    for history in histories:
        assert np.array_equal(model._novel_scores(history), _novel_scores(model, history)), history.user
        items, scores = model.best_items(history)
        want_items, want_scores = _best_items(model, history)
        assert np.array_equal(items, want_items) and np.array_equal(scores, want_scores), history.user
    prior = (1e-3 * model.popularity_scores()).astype(np.float32)
    for item in range(0, model.n_items, 101):
        single = UserHistory(np.array([item], np.int64))
        assert np.array_equal(model.score_item(item), _novel(model, single, prior, 0.0)), item


def test_four_rows_at_a_time_equal_row_by_row() -> None:
    rng = np.random.default_rng(3)
    B = rng.normal(size=(300, 257)).astype(np.float32)
    for n in (0, 1, 3, 4, 5, 8, 11, 64):
        rows = rng.integers(0, 300, n)  # duplicates too
        w = rng.random(n).astype(np.float32)
        assert np.array_equal(weighted_rows(B, rows, w), _row_by_row(B, rows, w)), n


def _full_sort_head(s: np.ndarray, m: int) -> np.ndarray:
    finite = np.flatnonzero(np.isfinite(s))
    return finite[np.lexsort((finite, -s[finite].astype(np.float64)))][:m]


def test_head_selection_bound_keeps_every_best_value() -> None:
    rng = np.random.default_rng(8)
    for n, m in ((9742, 200), (20_000, 500), (8192, 2000), (9742, 3000), (3000, 200), (9742, 9742)):
        s = np.round(rng.normal(size=n), 2).astype(np.float32)  # ties across the bound
        s[: n // 3] = s[0]
        assert np.array_equal(best_indices(s, m), _full_sort_head(s, m)), (n, m)


def test_head_selection_orders_signed_zeros_infinities_and_nan() -> None:
    rng = np.random.default_rng(9)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3e38, -3e38], np.float32)
    for n, m in ((9742, 200), (5000, 40), (600, 600)):
        s = rng.choice(specials, n)
        plain = rng.random(n) < 0.6
        s[plain] = np.round(rng.normal(size=plain.sum()), 1)  # negative, positive, tied
        got = best_indices(s, m)
        assert np.array_equal(got, _full_sort_head(s, m)), (n, m)
        assert np.isfinite(s[got]).all()
    zeros = np.array([-0.0, 0.0, -0.0, 1.0, -1.0, -0.0], np.float32)  # -0.0 and 0.0 tie: lower index first
    assert best_indices(zeros, 6).tolist() == [3, 0, 1, 2, 5, 4]


def test_head_order_merges_the_seen_items_into_the_ranked_curve() -> None:
    rng = np.random.default_rng(10)
    levels = np.float32([0.5, 0.25, 0.25, 0.125, 0.0625])  # few values: ties within and across the parts
    for trial in range(300):
        m, k = int(rng.integers(0, 12)), int(rng.integers(0, 6))
        items = rng.choice(60, m + k, replace=False)
        rates = rng.choice(levels, m)
        if trial % 3:  # the curve's part ranked (score descending, ties by item), as best_items builds it
            items[:m] = items[:m][np.lexsort((items[:m], -rates))]
            rates = np.sort(rates)[::-1]
        items[m:] = np.sort(items[m:])  # the seen items come by ascending item
        scores = np.concatenate([rates, rng.choice(levels, k)]).astype(np.float32)
        want = np.lexsort((items, -scores.astype(np.float64)))
        assert np.array_equal(_head_order(items, scores, m), want), trial
