"""Model.explain: an item's score broken into the model's own terms, which add up to the score it ranks by."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openpersonalize.data.movielens import prepare_interactions, prepare_items
from openpersonalize.data.training_data import TrainingData, UserHistory
from openpersonalize.recipes.popularity import PopularityCountRecipe
from openpersonalize.recipes.sims import SimsRecipe
from openpersonalize.recipes.user_personalization import UserPersonalizationRecipe, UserPersonalizationV2Recipe

FAST = {"ease_max_items": "1500", "als_iterations": "3"}
USER = "414"  # a long history (over 2,000 events): tail profiles and transitions all take part


@pytest.fixture(scope="module")
def data(movielens_dir: Path) -> TrainingData:
    return TrainingData.from_tables(
        prepare_interactions(movielens_dir / "ratings.csv"), prepare_items(movielens_dir / "movies.csv")
    )


@pytest.mark.parametrize("recipe", [UserPersonalizationRecipe, UserPersonalizationV2Recipe, SimsRecipe])
def test_terms_add_up_to_the_score(recipe, data: TrainingData) -> None:
    model = recipe().fit(data, FAST)
    assert model.explains
    history = model.training_history(USER)
    novel = np.asarray(model._novel_scores(history), np.float64)
    seen = set(history.items.tolist())
    best = [j for j in np.argsort(-novel).tolist() if j not in seen][:5]
    for j in best:
        terms = model.explain(history, j, k=len(history))
        assert terms[-1].term == "popularity" and terms[-1].item is None
        assert all(t.item in seen for t in terms[:-1])
        values = [t.value for t in terms[:-1]]
        assert values == sorted(values, reverse=True) and values[0] > 0
        # every positive history term plus popularity: the score less its negative terms
        assert sum(t.value for t in terms) >= novel[j] - 1e-4
        top = model.explain(history, j, k=3)
        assert top[:-1] == terms[: len(top) - 1]


@pytest.mark.parametrize("recipe", [UserPersonalizationRecipe, UserPersonalizationV2Recipe, SimsRecipe])
def test_terms_are_exact_for_a_short_history(recipe, data: TrainingData) -> None:
    """For a one-movie history, the movie's term and popularity sum to each related item's score exactly."""
    model = recipe().fit(data, FAST)
    history = model.training_history(USER)
    history = UserHistory(history.items[-1:], history.timestamps[-1:], history.event_types[-1:])
    n = 1
    novel = np.asarray(model._novel_scores(history), np.float64)
    exact = 0
    for j in np.setdiff1d(np.argsort(-novel)[:200], history.items).tolist():
        terms = model.explain(history, j, k=n)
        if len(terms) == n + 1:  # every history item adds to it: nothing is left out
            assert sum(t.value for t in terms) == pytest.approx(novel[j], rel=1e-5)
            exact += 1
    assert exact


def test_a_model_without_explanations_says_so(data: TrainingData) -> None:
    model = PopularityCountRecipe().fit(data)
    assert not model.explains
    with pytest.raises(NotImplementedError):
        model.explain(model.training_history(USER), 0)
