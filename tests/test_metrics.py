"""Offline metrics on hand-computed cases (Personalize's documented definitions), the
evaluation split, and where each solution version's figures come from."""

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from helpers import METRIC_KEYS
from openpersonalize.data.training_data import TrainingData
from openpersonalize.evaluation.evaluate import catalogue_size, evaluate_model
from openpersonalize.evaluation.metrics import compute_metrics, ndcg, precision, reciprocal_rank
from openpersonalize.evaluation.split import split_interactions
from openpersonalize.jobs.training import train_solution_version
from openpersonalize.recipes.artifacts import load_model
from openpersonalize.recipes.popularity import PopularityCountRecipe
from openpersonalize.recipes.ranking import RANKING_ARN, PersonalizedRankingModel, PersonalizedRankingRecipe
from openpersonalize.recipes.registry import get_recipe

UP_ARN = "arn:aws:personalize:::recipe/aws-user-personalization"


def _d(rank: int) -> float:
    """Personalize's discount 1 / log(1 + rank) (any base: NDCG is a ratio of such sums)."""
    return 1 / math.log2(1 + rank)


def test_reciprocal_rank() -> None:
    assert reciprocal_rank(["a", "b", "c"], {"c", "b"}) == pytest.approx(1 / 2)  # the first hit counts
    assert reciprocal_rank(["a", "b"], {"z"}) == 0.0
    assert reciprocal_rank(["x"] * 24 + ["a"], {"a"}, 25) == pytest.approx(1 / 25)
    assert reciprocal_rank(["x"] * 25 + ["a"], {"a"}, 25) == 0.0


def test_ndcg_documented_example() -> None:
    """The Developer Guide's example: hits at ranks 2 and 5, K = 5 -> 0.6241, whatever the truth's size."""
    recs = ["x1", "a", "x2", "x3", "b"]
    expected = (_d(2) + _d(5)) / (_d(1) + _d(2))
    assert expected == pytest.approx(0.6241, abs=5e-5)
    assert ndcg(recs, {"a", "b"}, 5) == pytest.approx(expected)
    assert ndcg(recs, {"a", "b", "c", "d", "e", "f"}, 5) == pytest.approx(expected)  # ideal: the top K re-sorted
    assert ndcg(["a", "b"], {"a", "b", "c"}, 5) == pytest.approx(1.0)  # hits already first
    assert ndcg(["x", "y"], {"a"}, 5) == 0.0


def test_ndcg_grows_with_k() -> None:
    """The ideal counts only the hits inside the top K, so a later hit raises NDCG@K as K grows."""
    late = [f"x{i}" for i in range(6)] + ["a"] + [f"y{i}" for i in range(20)]  # one hit, at rank 7
    assert ndcg(late, {"a", "b"}, 5) == 0.0
    assert ndcg(late, {"a", "b"}, 10) == pytest.approx(_d(7))  # 1/log2(8) = 1/3
    assert ndcg(late, {"a", "b"}, 25) == pytest.approx(1 / 3)
    two = ["a"] + late[1:]  # hits at ranks 1 and 7
    assert ndcg(two, {"a"}, 5) == pytest.approx(1.0)
    assert ndcg(two, {"a"}, 10) == pytest.approx((_d(1) + _d(7)) / (_d(1) + _d(2)))
    m = compute_metrics([late, two], [{"a", "b"}, {"a"}], n_catalogue_items=100)
    assert m["normalized_discounted_cumulative_gain_at_5"] == pytest.approx(0.5)
    assert m["normalized_discounted_cumulative_gain_at_10"] == pytest.approx((1 / 3 + (4 / 3) / (1 + _d(2))) / 2)
    assert m["normalized_discounted_cumulative_gain_at_10"] > m["normalized_discounted_cumulative_gain_at_5"]
    assert m["normalized_discounted_cumulative_gain_at_25"] == pytest.approx(
        m["normalized_discounted_cumulative_gain_at_10"]
    )
    assert [m[f"precision_at_{k}"] for k in (5, 10, 25)] == pytest.approx([0.1, 0.15, 0.06])


def test_precision_coverage_and_aggregate() -> None:
    assert precision(["a", "b", "c", "d", "e"], {"a", "e", "z"}, 5) == pytest.approx(0.4)
    assert precision(["a"], {"a"}, 5) == pytest.approx(0.2)  # divided by K, not by the list's length
    recs = [["a", "b"], ["c"], [f"i{i}" for i in range(30)]]
    m = compute_metrics(recs, [{"b"}, {"z"}, {"i0"}], n_catalogue_items=100)
    assert m["mean_reciprocal_rank_at_25"] == pytest.approx((1 / 2 + 0 + 1) / 3)
    assert m["precision_at_5"] == pytest.approx((1 / 5 + 0 + 1 / 5) / 3)
    assert m["normalized_discounted_cumulative_gain_at_25"] == pytest.approx((_d(2) + 0 + 1) / 3)  # lone hit at 2
    assert m["coverage"] == pytest.approx((3 + 25) / 100)  # distinct items of every top 25
    assert set(m) == METRIC_KEYS


def _clustered(n_users: int = 300, seed: int = 3) -> pa.Table:
    """Users who each favour one of four 20-item groups, plus a few random items, in time order."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        group = u % 4
        picks = list(rng.choice(20, size=12, replace=False) + 20 * group) + list(rng.choice(80, size=3))
        rows += [(f"u{u}", f"i{i}", 1000 * u + t) for t, i in enumerate(picks)]
    return pa.table({k: [r[j] for r in rows] for j, k in enumerate(("USER_ID", "ITEM_ID", "TIMESTAMP"))})


def test_coverage_counts_items_only_test_users_touched() -> None:
    """coverage's denominator is every item of the Interactions (and Items) dataset, test users' included."""
    base = _clustered(100)
    only = pa.table(
        {
            "USER_ID": [f"u{u}" for u in range(100)],
            "ITEM_ID": [f"only{u}" for u in range(100)],
            "TIMESTAMP": [10**9] * 100,
        }
    )
    split = split_interactions(pa.concat_tables([base, only]), seed=0)
    model = PopularityCountRecipe().fit(TrainingData.from_tables(split.train), {})
    assert model.n_items == 80 + 90  # the 10 test users' own items are unknown to the model
    assert catalogue_size(model, split) == 80 + 100
    m = evaluate_model(model, split)
    assert m["coverage"] == pytest.approx(25 / 180)  # popularity: the same 25 items for everyone


def test_personalized_ranking_reports_its_own_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ranking solution version's figures are its own model's, evaluated like every other recipe.

    personalized-ranking's model is the user-personalization model (ranking.py), so with the same
    hyperparameters its figures equal user-personalization's; with its own they are its own.
    """
    table = _clustered()
    own = {"recency_mask": "false", "repeat_model": "false", "transition_weight": "0", "ease_lambda": "5"}
    ranked = train_solution_version(RANKING_ARN, table, None, None, own, None, False, None, tmp_path / "r")
    assert isinstance(load_model(tmp_path / "r"), PersonalizedRankingModel)
    split = split_interactions(table, seed=0)
    params = {**get_recipe(RANKING_ARN).default_hyperparameters, **own}
    model = PersonalizedRankingRecipe().fit(TrainingData.from_tables(split.train), params, seed=0)
    assert ranked.metrics == pytest.approx(evaluate_model(model, split))
    up = train_solution_version(UP_ARN, table, None, None, {}, None, False, None, tmp_path / "u")
    assert ranked.metrics != pytest.approx(up.metrics)
    same = train_solution_version(RANKING_ARN, table, None, None, {}, None, False, None, tmp_path / "s")
    assert same.metrics == pytest.approx(up.metrics)
    # the figures are computed by the ranking model class itself: change its scoring and only they change
    monkeypatch.setattr(
        PersonalizedRankingModel, "score_user", lambda self, history, context=None: self.popularity_scores()
    )
    popular = train_solution_version(RANKING_ARN, table, None, None, {}, None, False, None, tmp_path / "p")
    assert popular.metrics["coverage"] == pytest.approx(25 / 80)  # the same 25 items for every test user
    assert up.metrics["coverage"] > popular.metrics["coverage"]


def test_split_protocol() -> None:
    rows = []
    for u in range(100):
        for t in range(20):
            rows.append((str(u), f"i{t}", t))
            rows.append((str(u), f"i{t}", t))  # click + watch duplicate
    table = pa.table(
        {"USER_ID": [r[0] for r in rows], "ITEM_ID": [r[1] for r in rows], "TIMESTAMP": [r[2] for r in rows]}
    )
    s = split_interactions(table, seed=1, protocol="strict")
    assert len(s.test_users) == 10
    assert s.train.num_rows == 90 * 40
    assert s.exclude_seen
    for (items, _), truth in zip(s.inputs, s.truths, strict=True):
        assert truth == {"i18", "i19"}  # newest 10% of 20 distinct items, de-duplicated
        assert len(items) == 18
    assert split_interactions(table, seed=1, protocol="strict").test_users == s.test_users


def test_split_documented_protocol_cuts_interactions() -> None:
    """Personalize's protocol: newest 10% of interaction rows; truth may repeat input items."""
    rows = []
    for u in range(100):
        for t in range(20):
            rows.append((str(u), f"i{t}", t, "click"))
            if t % 2:
                rows.append((str(u), f"i{t}", t, "watch"))
    table = pa.table({k: [r[i] for r in rows] for i, k in enumerate(("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"))})
    s = split_interactions(table, seed=1)
    assert not s.exclude_seen
    assert len(s.test_users) == 10
    for (items, _), events, truth in zip(s.inputs, s.input_events, s.truths, strict=True):
        assert len(items) == 30 - 3  # 30 rows, newest 3 held out
        assert truth == {"i18", "i19"}  # i19 click+watch, i18 click (ties keep dataset order)
        assert events[-1] == "watch" and items[-1] == "i17"
    assert split_interactions(table, seed=1).test_users == s.test_users
