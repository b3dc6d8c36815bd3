"""aws-popularity-count and aws-trending-now: non-personalised recipes."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from openpersonalize.data.training_data import TrainingData, UserHistory
from openpersonalize.recipes.base import DAY, BaseModel, param
from openpersonalize.recipes.protocol import Recipe
from openpersonalize.recipes.registry import POPULARITY_ARN, TRENDING_ARN


class GlobalRankingModel(BaseModel):
    """One ranking for every user and every item: the array ``scores_array`` (exploration still applies)."""

    scores_array: ClassVar[str]

    def score_user(self, history: UserHistory, context: dict[str, Any] | None = None) -> np.ndarray:
        """The same scores for every user, with new items blended in per the exploration config."""
        return self.explore(self.score_item(-1), history, context)

    def score_item(self, item_index: int) -> np.ndarray:
        """The same scores as related items of any item."""
        return np.asarray(self.arrays[self.scores_array], np.float32)


class PopularityModel(GlobalRankingModel):
    """Scores = interaction counts: most-interacted items first."""

    kind = "popularity-count"
    scores_array = "item_counts"


class TrendingModel(GlobalRankingModel):
    """Scores = growth in interactions between the previous and the latest window: fastest-rising first."""

    kind = "trending-now"
    scores_array = "trend"


class PopularityCountRecipe(Recipe):
    """Recipe object for aws-popularity-count."""

    arn = POPULARITY_ARN

    def fit(self, data: TrainingData, params: dict[str, Any] | None = None, seed: int = 0) -> PopularityModel:
        """Count interactions per item."""
        model = PopularityModel()
        model.set_common(data, self.arn, self.hyperparameters(params))
        return model


class TrendingNowRecipe(Recipe):
    """Recipe object for aws-trending-now (``trend_window_days`` hyperparameter)."""

    arn = TRENDING_ARN

    def fit(self, data: TrainingData, params: dict[str, Any] | None = None, seed: int = 0) -> TrendingModel:
        """Compare each item's count in the last window with the window before it."""
        params = self.hyperparameters(params)
        window = param(params, "trend_window_days") * DAY
        now = data.max_timestamp
        ts, items = data.hist_ts, data.hist_items
        recent = np.bincount(items[ts > now - window], minlength=data.n_items).astype(np.float64)
        before = np.bincount(items[(ts <= now - window) & (ts > now - 2 * window)], minlength=data.n_items).astype(
            np.float64
        )
        total = data.item_counts()
        # absolute rise, damped for items with tiny counts; popularity breaks ties
        trend = (recent - before) * recent / (recent + 1.0)
        trend = trend + 1e-6 * np.log1p(total)
        model = TrendingModel()
        model.set_common(data, self.arn, params)
        model.arrays["trend"] = trend.astype(np.float32)
        return model


class RecentPopularityRecipe(TrendingNowRecipe):
    """Trending now as the VIDEO_ON_DEMAND use case ranks it: each interaction counts half as much every
    ``trend_half_life_days``, so what draws viewers now outranks what drew them years ago (on
    ml-latest-small the week-on-week rise of aws-trending-now falls behind plain popularity:
    benchmarks/domain_quality.py)."""

    def fit(self, data: TrainingData, params: dict[str, Any] | None = None, seed: int = 0) -> TrendingModel:
        """Time-decayed interaction counts as of the newest interaction."""
        params = self.hyperparameters(params)
        age_days = (data.max_timestamp - data.hist_ts) / DAY
        weights = np.power(0.5, age_days / param(params, "trend_half_life_days"))
        model = TrendingModel()
        model.set_common(data, self.arn, params)
        model.arrays["trend"] = np.bincount(data.hist_items, weights=weights, minlength=data.n_items).astype(np.float32)
        return model
