"""Block scoring for batch jobs: ``score_users`` and ``top_k_rows`` equal the per-request runtime exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openpersonalize.data.movielens import prepare_interactions, prepare_items
from openpersonalize.data.training_data import TrainingData, UserHistory
from openpersonalize.recipes.artifacts import load_model
from openpersonalize.recipes.popularity import PopularityCountRecipe
from openpersonalize.recipes.ranking import PersonalizedRankingRecipe
from openpersonalize.recipes.user_personalization import UserPersonalizationRecipe
from openpersonalize.runtime.scoring import top_k, top_k_rows

FAST = {"ease_max_items": "2500"}
EXPLORE = {"itemExplorationConfig": {"explorationWeight": "0.3", "explorationItemAgeCutOff": "100000"}}


@pytest.fixture(scope="module")
def data(movielens_dir: Path) -> TrainingData:
    ints, items = prepare_interactions(movielens_dir / "ratings.csv"), prepare_items(movielens_dir / "movies.csv")
    return TrainingData.from_tables(ints, items)


def _histories(model, data: TrainingData) -> list[UserHistory]:
    """A sample of training users, cold-start users and a history with fresh (live-like) events appended."""
    users = [str(u) for u in model.user_ids[::37].tolist()]
    out = [model.training_history(u) for u in users]
    out += [UserHistory.empty(), model.training_history("no-such-user")]
    base = model.training_history(users[0])
    extra = np.array([5, 17, 5], np.int64)
    stamps = np.concatenate([base.timestamps, np.full(3, int(base.timestamps.max()) + 10)])
    out.append(UserHistory(np.concatenate([base.items, extra]), stamps, [*base.event_types, "click", "click", "watch"]))
    out.append(UserHistory(np.array([data.n_items - 1], np.int64)))  # an item outside EASE only
    return out


def _assert_block_equals_rows(model, histories: list[UserHistory]) -> None:
    for context in (None, {}, EXPLORE):
        rows = np.stack([np.asarray(model.score_user(h, context)) for h in histories])
        block = model.score_users(histories, context)
        assert block.shape == rows.shape and block.dtype == rows.dtype
        assert np.array_equal(block, rows, equal_nan=True), context


ALS = {**FAST, "als_weight": "0.3", "hidden_dimension": "16", "als_iterations": "3"}


@pytest.mark.parametrize("params", [FAST, ALS])
def test_user_personalization_block_equals_score_user(data: TrainingData, params, tmp_path: Path) -> None:
    model = UserPersonalizationRecipe().fit(data, params)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")  # memory-mapped, as served
    histories = _histories(loaded, data)
    _assert_block_equals_rows(loaded, histories)
    _assert_block_equals_rows(model, histories[:20])


def test_ranking_and_base_block_equal_score_user(data: TrainingData) -> None:
    ranking = PersonalizedRankingRecipe().fit(data, FAST)
    _assert_block_equals_rows(ranking, _histories(ranking, data)[:30])
    popularity = PopularityCountRecipe().fit(data)
    _assert_block_equals_rows(popularity, _histories(popularity, data)[:10])
    assert popularity.score_users([]).shape == (0, popularity.n_items)


def test_top_k_rows_equals_top_k() -> None:
    rng = np.random.default_rng(3)
    block = rng.random((40, 3001)).astype(np.float32)
    block[1] = 0.5  # all tied: lowest indices win
    block[2, ::2] = np.float32(0.9)  # ties straddling the k-th place
    block[3, :] = -np.inf
    block[3, [7, 9]] = [1.0, 2.0]  # fewer finite items than k
    block[4, 100] = np.nan
    block[5] = np.round(block[5], 2)  # many ties
    masks = [None if r % 3 else rng.random(3001) < 0.4 for r in range(40)]
    masks[6] = np.zeros(3001, bool)
    for k in (1, 25, 500):
        for allowed in (None, masks):
            got = top_k_rows(block, k, allowed)
            for r in range(len(block)):
                want = top_k(np.asarray(block[r], np.float64), k, None if allowed is None else allowed[r])
                assert np.array_equal(got[r].indices, want.indices), (k, r)
                assert np.array_equal(got[r].scores, want.scores), (k, r)
    assert top_k_rows(block, 25)[1].indices.tolist() == list(range(25))


def test_tail_profiles_match_the_direct_sum(data: TrainingData) -> None:
    """Heavy users' precomputed old-item sums give the scores of summing every row, live events included."""
    model = UserPersonalizationRecipe().fit(data, FAST)
    slots = np.asarray(model.arrays["tail_slot"])
    heavy = [str(model.user_ids[u]) for u in np.flatnonzero(slots >= 0)[:5].tolist()]
    assert heavy, "ml-latest-small has users with long histories"
    direct = UserPersonalizationRecipe.model_cls.__new__(UserPersonalizationRecipe.model_cls)
    direct.__dict__.update(model.__dict__)
    direct.arrays = {k: v for k, v in model.arrays.items() if not k.startswith("tail_")}
    for user_id in heavy:
        base = model.training_history(user_id)
        u = base.user
        lo = int(model.arrays["tail_ptr"][slots[u]])
        old_item = int(model.arrays["tail_items"][lo])  # an old item the user touches again
        live = np.array([old_item, int(np.setdiff1d(np.arange(50), base.items)[0])], np.int64)
        stamps = np.full(2, int(base.timestamps.max()) + 60)
        merged = UserHistory(
            np.concatenate([base.items, live]),
            np.concatenate([base.timestamps, stamps]),
            [*base.event_types, "click", "click"],
            user=u,
            live_items=live,
        )
        for history in (base, merged):
            fast, slow = model.score_user(history), direct.score_user(history)
            assert np.allclose(fast, slow, rtol=1e-5, atol=1e-6)
            assert top_k(fast, 25).indices.tolist() == top_k(slow, 25).indices.tolist()
    _assert_block_equals_rows(model, [model.training_history(u) for u in heavy])


def test_spreads_equal_numpy_std() -> None:
    from openpersonalize.recipes.kernels import row_spread, sparse_spread

    rng = np.random.default_rng(3)
    for n, m in ((1000, 300), (50, 50), (10, 0)):
        cols = np.sort(rng.choice(n, m, replace=False))
        vals = rng.normal(size=m).astype(np.float32)
        dense = np.zeros(n, np.float32)
        dense[cols] = vals
        assert np.isclose(sparse_spread(n, vals), np.std(dense.astype(np.float64)), rtol=1e-9, atol=1e-12)
        assert np.isclose(row_spread(dense), np.std(dense.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_best_indices_equal_a_full_sort() -> None:
    from openpersonalize.recipes.kernels import best_indices

    rng = np.random.default_rng(6)
    for n, m in ((10_000, 200), (5000, 25), (300, 200), (100, 1), (4096, 2047), (50, 80)):
        s = np.round(rng.normal(size=n), 1).astype(np.float32)  # many ties
        s[rng.choice(n, n // 10, replace=False)] = -np.inf
        s[rng.choice(n, 3, replace=False)] = np.nan
        finite = np.flatnonzero(np.isfinite(s))
        want = finite[np.lexsort((finite, -s[finite].astype(np.float64)))][:m]
        assert np.array_equal(best_indices(s, m), want), (n, m)


def test_standardised_addition_is_the_z_score_less_a_constant() -> None:
    from openpersonalize.recipes.kernels import sparse_spread
    from openpersonalize.recipes.personal_kernel import _add_row, _scaled_add

    rng = np.random.default_rng(4)
    n = 500
    base = rng.random(n).astype(np.float32)
    cols = np.sort(rng.choice(n, 40, replace=False))
    vals = rng.normal(size=40).astype(np.float32)
    full = rng.random(n).astype(np.float32)
    s = base.copy()
    _scaled_add(s, cols, np.float32(0.7 / sparse_spread(n, vals)), vals)
    _add_row(s, full, 0.3)
    sparse_row = np.zeros(n)
    sparse_row[cols] = vals
    want = base + 0.7 * (sparse_row - sparse_row.mean()) / sparse_row.std() + 0.3 * (full - full.mean()) / full.std()
    diff = s - want
    assert np.allclose(diff, diff[0], atol=1e-5)  # the same order and spread: only a constant apart
    flat = base.copy()
    _add_row(flat, np.ones(n, np.float32), 1.0)  # no spread: nothing added
    assert np.array_equal(flat, base)


def test_transition_scorer_equals_the_sparse_product() -> None:
    import scipy.sparse as sp

    from openpersonalize.recipes.sequence import TransitionScorer

    rng = np.random.default_rng(5)
    n = 400
    dense_part = (rng.random((n, n)) < np.where(np.arange(n) < 30, 0.5, 0.02)[:, None]) * rng.random((n, n))
    T = sp.csr_matrix(dense_part.astype(np.float32))
    scorer = TransitionScorer(T)
    assert 0 < len(scorer.dense) <= 30  # the first rows are dense, the others scattered
    for _ in range(20):
        items = rng.choice(n, 14, replace=False)
        w = rng.random(14)
        keep = np.argsort(-w, kind="stable")[:10]
        want = np.asarray(T[items[keep]].T @ w[keep]).ravel()
        got = scorer.scores(items, w)
        assert got.dtype == np.float32 and np.allclose(got, want, rtol=1e-5, atol=1e-7)


def test_best_items_are_the_head_of_the_full_ranking(data: TrainingData) -> None:
    """The shortcut batch jobs and the runtime take: ``best_items`` ranked is the start of ``top_k`` of the row."""
    from openpersonalize.runtime.scoring import top_k_of

    model = UserPersonalizationRecipe().fit(data, {**FAST, "transition_weight": "0.15"})
    histories = _histories(model, data)
    for history in histories:
        head = model.best_items(history)
        if head is None:
            assert len(history) == 0
            continue
        items, values = head
        full = model.score_user(history)
        assert len(items) >= len(model.arrays["novel_curve"]) and len(np.unique(items)) == len(items)
        assert np.array_equal(values, full[items])
        assert np.delete(full, items).max() < values.min()  # everything left out ranks below
        assert np.array_equal(items, top_k(full, len(items)).indices)  # and it comes ranked
        for k in (1, 25, len(items)):
            got, want = top_k_of(items, values, k), top_k(full, k)
            assert np.array_equal(got.indices, want.indices) and np.array_equal(got.scores, want.scores)
        assert model.best_items(history, EXPLORE) is None
