"""aws-personalized-ranking (v1, v2): rank a given list for a user.

The model is the user-personalization model; ``rank`` restricts ``score_user`` to the
requested items (the runtime may equally score all items and take the list's entries).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from openpersonalize.data.training_data import UserHistory
from openpersonalize.recipes.registry import RANKING_ARN, RANKING_V2_ARN
from openpersonalize.recipes.user_personalization import UserPersonalizationModel, UserPersonalizationRecipe

__all__ = ["RANKING_ARN", "RANKING_V2_ARN", "PersonalizedRankingModel", "PersonalizedRankingRecipe"]


class PersonalizedRankingModel(UserPersonalizationModel):
    """User-personalization scores, used to order a candidate list."""

    kind = "personalized-ranking"

    def rank(
        self, history: UserHistory, item_indices: np.ndarray, context: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(item indices best first, their scores) for the given candidate list."""
        cand = np.asarray(item_indices, np.int64)
        scores = self.score_user(history, context)[cand]
        order = np.argsort(-scores, kind="stable")
        return cand[order], scores[order]


class PersonalizedRankingRecipe(UserPersonalizationRecipe):
    """aws-personalized-ranking (EASE + recency)."""

    arn = RANKING_ARN
    model_cls = PersonalizedRankingModel


class PersonalizedRankingV2Recipe(PersonalizedRankingRecipe):
    """aws-personalized-ranking-v2 (EASE + iALS + recency)."""

    arn = RANKING_V2_ARN
