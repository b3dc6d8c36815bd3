"""Recipes on ml-latest-small: behaviour, persistence, UPDATE, exploration."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from openpersonalize.data.movielens import prepare_interactions, prepare_items
from openpersonalize.data.training_data import TrainingData, UserHistory
from openpersonalize.jobs.training import train_solution_version
from openpersonalize.recipes.artifacts import load_model
from openpersonalize.recipes.popularity import PopularityCountRecipe, RecentPopularityRecipe
from openpersonalize.recipes.protocol import make_recipe
from openpersonalize.recipes.ranking import PersonalizedRankingRecipe
from openpersonalize.recipes.registry import all_recipes, get_recipe
from openpersonalize.recipes.sims import SimilarItemsRecipe, SimsRecipe
from openpersonalize.recipes.together import visit_matrix
from openpersonalize.recipes.user_personalization import UserPersonalizationRecipe

FAST = {"ease_max_items": "2500"}


@pytest.fixture(scope="module")
def tables(movielens_dir: Path) -> tuple[pa.Table, pa.Table]:
    return prepare_interactions(movielens_dir / "ratings.csv"), prepare_items(movielens_dir / "movies.csv")


@pytest.fixture(scope="module")
def data(tables: tuple[pa.Table, pa.Table]) -> TrainingData:
    return TrainingData.from_tables(*tables)


@pytest.fixture(scope="module")
def up_model(data: TrainingData):
    return UserPersonalizationRecipe().fit(data, FAST)


@pytest.fixture(scope="module")
def genres(tables: tuple[pa.Table, pa.Table]) -> dict[str, str]:
    items = tables[1]
    return dict(zip(items["ITEM_ID"].to_pylist(), items["GENRE"].to_pylist(), strict=True))


def _is_kids(genre: str) -> bool:
    return "Animation" in genre or "Children" in genre


def test_catalogue() -> None:
    arns = {r.arn for r in all_recipes()}
    assert "arn:aws:personalize:::recipe/aws-user-personalization" in arns
    assert get_recipe("arn:aws:personalize:::recipe/aws-sims").recipe_type == "RELATED_ITEMS"
    assert get_recipe("nope") is None


def test_catalogue_entries_name_their_recipe_classes() -> None:
    for info in all_recipes():
        recipe = make_recipe(info)
        assert recipe.recipe_type == info.recipe_type
        if info.domain is None:
            assert recipe.arn == info.arn
            assert recipe.default_hyperparameters == info.default_hyperparameters
        else:  # a domain recipe trains with (a subclass of) one of our custom families, its defaults over theirs
            assert get_recipe(recipe.arn).domain is None
            assert set(recipe.default_hyperparameters) <= set(info.default_hyperparameters)


def test_training_data(data: TrainingData, tables) -> None:
    assert data.n_items == 9742  # metadata-only items are indexed too
    assert data.matrix.shape == (610, 9742)
    h = data.history(0)
    assert np.all(np.diff(h.timestamps) >= 0)
    assert any(n.startswith("GENRE=") for n in data.feature_names)
    watch = TrainingData.from_tables(tables[0], tables[1], event_type="watch")
    assert watch.n_interactions < data.n_interactions


def test_sims_toy_story_neighbours(tables, genres) -> None:
    data = TrainingData.from_tables(*tables, event_type="watch")
    model = SimsRecipe().fit(data)
    top = np.argsort(-model.score_item(model.item_index["1"]))[:10]
    assert sum(_is_kids(genres[str(model.item_ids[i])]) for i in top) >= 5


def test_sims_user_scores_repeat_model(data, tables, genres, tmp_path: Path) -> None:
    model = SimsRecipe().fit(data)
    assert {"repeat_w", "novel_curve", "item_conv"} <= set(model.arrays)
    plain = SimsRecipe().fit(data, {"repeat_model": "false"})
    assert "repeat_w" not in plain.arrays
    # related items do not depend on the re-interaction model
    t2 = model.item_index["589"]
    assert np.array_equal(model.score_item(t2), plain.score_item(t2))
    top = np.argsort(-model.score_item(t2))[:10]
    assert sum("Action" in genres[str(model.item_ids[i])] for i in top) >= 6
    # a popular movie clicked with the newest events, not watched yet, is among the likeliest next items
    h = model.training_history("1")
    counts = np.asarray(model.arrays["item_counts"])
    pick = next(int(i) for i in np.argsort(-counts) if i not in set(h.items.tolist()))
    clicked = UserHistory(np.r_[h.items, pick], np.r_[h.timestamps, h.timestamps[-1]], [*h.event_types, "click"])
    s = model.score_user(clicked)
    assert s.shape == (model.n_items,) and np.all(np.isfinite(s))
    assert pick in np.argsort(-s)[:5]
    # single event type: nothing repeats, seen items sink below the unseen top
    watch = SimsRecipe().fit(TrainingData.from_tables(*tables, event_type="watch"))
    hw = watch.training_history("1")
    top = np.argsort(-watch.score_user(hw))[:25]
    assert not np.isin(top, hw.items).any()
    # artifacts without the new arrays still load and score with the neighbour scorer
    model.save(tmp_path / "m")
    old = tmp_path / "old"
    plain.save(old)
    assert np.array_equal(load_model(old).score_user(h), plain.score_user(h))
    assert np.allclose(load_model(tmp_path / "m").score_user(clicked), s)


def test_similar_items_cold_item_has_neighbours(tables, genres) -> None:
    interactions, items = tables
    extra = pa.table({"ITEM_ID": ["cold-1"], "GENRE": ["Animation|Children"], "YEAR": pa.array([2018], pa.int32())})
    data = TrainingData.from_tables(interactions, pa.concat_tables([items, extra]))
    model = SimilarItemsRecipe().fit(data)
    top = np.argsort(-model.score_item(model.item_index["1"]))[:10]
    assert sum(_is_kids(genres[str(model.item_ids[i])]) for i in top) >= 6
    cold = np.argsort(-model.score_item(model.item_index["cold-1"]))[:10]
    assert all(_is_kids(genres[str(model.item_ids[i])]) for i in cold)


def test_horror_history_gets_horror(up_model, genres) -> None:
    counts = np.asarray(up_model.arrays["item_counts"])
    horror = [up_model.item_index[i] for i, g in genres.items() if "Horror" in g and i in up_model.item_index]
    horror = sorted(horror, key=lambda i: -counts[i])[:15]
    history = UserHistory(np.array(horror), np.arange(15))
    scores = up_model.score_user(history)
    scores[history.items] = -np.inf
    top = np.argsort(-scores)[:10]
    assert sum("Horror" in genres[str(up_model.item_ids[i])] for i in top) >= 6


def test_popularity_count_order(data: TrainingData) -> None:
    model = PopularityCountRecipe().fit(data)
    scores = model.score_user(UserHistory.empty())
    counts = data.item_counts()
    top = np.argsort(-scores, kind="stable")[:10]
    assert list(counts[top]) == sorted(counts, reverse=True)[:10]


def test_cold_user_gets_popularity(up_model, data: TrainingData) -> None:
    scores = up_model.score_user(UserHistory.empty())
    assert np.argmax(scores) == np.argmax(data.item_counts())


def test_personalized_ranking_orders_similar_first(data: TrainingData, genres) -> None:
    model = PersonalizedRankingRecipe().fit(data, FAST)
    counts = np.asarray(model.arrays["item_counts"])
    kids = [model.item_index[i] for i, g in genres.items() if _is_kids(g) and i in model.item_index]
    kids = sorted(kids, key=lambda i: -counts[i])[:23]
    history = UserHistory(np.array(kids[:20]), np.arange(20))
    horror = [model.item_index[i] for i in ("1258", "1387", "1997")]  # The Shining, Jaws, The Exorcist
    candidates = np.array(horror + kids[20:23])
    ranked, _ = model.rank(history, candidates)
    position = {int(item): r for r, item in enumerate(ranked)}
    assert int(ranked[0]) in kids[20:23]
    assert sum(position[i] for i in kids[20:23]) < sum(position[i] for i in horror)


def test_save_load_roundtrip(up_model, tmp_path: Path) -> None:
    up_model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    h = up_model.training_history("1")
    assert len(h) > 0
    np.testing.assert_array_equal(up_model.score_user(h), loaded.score_user(loaded.training_history("1")))
    np.testing.assert_array_equal(up_model.score_item(5), loaded.score_item(5))
    assert not loaded.arrays["ease_B"].flags.writeable


def test_exploration_brings_new_items(tables) -> None:
    interactions, items = tables
    now = int(interactions["TIMESTAMP"].to_numpy().max())
    new = pa.table(
        {
            "ITEM_ID": [f"new-{i}" for i in range(20)],
            "GENRE": ["Drama"] * 20,
            "YEAR": pa.array([2018] * 20, pa.int32()),
            "CREATION_TIMESTAMP": pa.array([now - 86_400] * 20, pa.int64()),
        }
    )
    data = TrainingData.from_tables(
        interactions,
        pa.concat_tables([items.append_column("CREATION_TIMESTAMP", pa.nulls(items.num_rows, pa.int64())), new]),
    )
    model = UserPersonalizationRecipe().fit(data, FAST)
    cold = set(np.flatnonzero(data.item_counts() == 0).tolist())  # the 20 new + metadata-only items
    assert {model.item_index[f"new-{i}"] for i in range(20)} <= cold
    h = model.training_history("1")
    plain = np.argsort(-model.score_user(h))[:25]
    explored = np.argsort(-model.score_user(h, {"itemExplorationConfig": {"explorationWeight": "0.5"}}))[:25]
    assert not cold & set(plain.tolist())
    assert len(cold & set(explored.tolist())) >= 3
    for weight in ("0.3", "0.99", "1"):  # the largest weight lifts the bonus most: scores stay within 0 to 1
        scores = model.score_user(h, {"itemExplorationConfig": {"explorationWeight": weight}})
        finite = scores[np.isfinite(scores)]
        assert len(finite) == len(scores) and 0.0 <= finite.min() and finite.max() <= 1.0, (weight, finite.max())


def test_update_adds_item_faster_than_full(tables, tmp_path: Path) -> None:
    interactions, items = tables
    arn = "arn:aws:personalize:::recipe/aws-user-personalization"
    t = time.perf_counter()
    full = train_solution_version(arn, interactions, items, None, FAST, None, False, None, tmp_path / "full")
    full_s = time.perf_counter() - t
    extra = pa.table(
        {
            "USER_ID": ["1", "2"],
            "ITEM_ID": ["brand-new", "brand-new"],
            "EVENT_TYPE": ["click", "click"],
            "TIMESTAMP": pa.array([1_600_000_000, 1_600_000_001], pa.int64()),
        }
    )
    t = time.perf_counter()
    upd = train_solution_version(
        arn,
        pa.concat_tables([interactions, extra]),
        items,
        None,
        FAST,
        None,
        False,
        None,
        tmp_path / "upd",
        previous_dir=tmp_path / "full",
    )
    upd_s = time.perf_counter() - t
    assert upd_s < full_s
    assert upd.metrics == full.metrics
    model = load_model(tmp_path / "upd")
    assert "brand-new" in model.item_index
    assert model.score_user(model.training_history("1")).shape == (model.n_items,)


def test_unusable_data_raises(tables, tmp_path: Path) -> None:
    arn = "arn:aws:personalize:::recipe/aws-sims"
    with pytest.raises(ValueError, match="Not enough data"):
        train_solution_version(arn, tables[0].slice(0, 100), None, None, {}, None, False, None, tmp_path)
    with pytest.raises(ValueError, match="Unknown recipe"):
        train_solution_version("arn:x", tables[0], None, None, {}, None, False, None, tmp_path)


def test_visits_split_where_a_gap_is_longer_than_allowed() -> None:
    """recipes/together.py: a visit is a user's run of events without a gap over visit_gap_seconds."""
    table = pa.table(
        {
            "USER_ID": ["a", "a", "a", "b", "b"],
            "ITEM_ID": ["1", "2", "3", "1", "2"],
            "TIMESTAMP": pa.array([0, 60, 10_000, 5, 70], pa.int64()),
        }
    )
    data = TrainingData.from_tables(table)
    visits = visit_matrix(data, gap_seconds=1800).toarray()
    baskets = sorted(tuple(sorted(data.item_ids[i] for i in np.flatnonzero(row))) for row in visits)
    assert baskets == [("1", "2"), ("1", "2"), ("3",)]


def test_recent_popularity_ranks_what_draws_interactions_now() -> None:
    """The VIDEO_ON_DEMAND trending use case: three old interactions weigh less than two of this week."""
    day = 86_400
    table = pa.table(
        {
            "USER_ID": ["a", "b", "c", "d", "e"],
            "ITEM_ID": ["old", "old", "old", "new", "new"],
            "TIMESTAMP": pa.array([0, 1, 2, 400 * day, 401 * day], pa.int64()),
        }
    )
    model = RecentPopularityRecipe().fit(TrainingData.from_tables(table), {"trend_half_life_days": "30"})
    scores = model.score_user(UserHistory.empty())
    assert scores[model.item_index["new"]] > scores[model.item_index["old"]] > 0
