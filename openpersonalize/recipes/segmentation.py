"""USER_SEGMENTATION recipes: aws-item-affinity (users most likely to interact with an item).

Reuses the user-personalization model: a user's affinity for item j is their
history's EASE score for j. aws-item-attribute-affinity trains the same model; its batch segment jobs
select the items by an attribute expression (``itemAttributes``) and rank users by their mean affinity.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from openpersonalize.recipes.registry import ITEM_AFFINITY_ARN, ITEM_ATTRIBUTE_AFFINITY_ARN
from openpersonalize.recipes.user_personalization import UserPersonalizationModel, UserPersonalizationRecipe


class ItemAffinityModel(UserPersonalizationModel):
    """Scores every training user for an item."""

    kind = "item-affinity"

    def score_users_for_item(self, item_index: int) -> np.ndarray:
        """One affinity score per training user (index order of ``user_ids``)."""
        n_users = len(self.user_ids)
        pos = np.asarray(self.arrays["ease_pos"])
        j = int(pos[int(item_index)])
        if j < 0:
            return np.zeros(n_users, np.float32)
        items = np.asarray(self.arrays["hist_items"])
        users = np.repeat(np.arange(n_users), np.diff(np.asarray(self.arrays["user_ptr"])))
        p = pos[items]
        ok = p >= 0
        X = sp.csr_matrix((np.ones(int(ok.sum()), np.float32), (users[ok], p[ok])), shape=(n_users, len(pos)))
        X.data[:] = 1.0
        return np.asarray(X[:, : np.asarray(self.arrays["ease_B"]).shape[0]] @ self.arrays["ease_B"][:, j])


class ItemAffinityRecipe(UserPersonalizationRecipe):
    """aws-item-affinity."""

    arn = ITEM_AFFINITY_ARN
    model_cls = ItemAffinityModel


class ItemAttributeAffinityModel(ItemAffinityModel):
    """Scores every training user for the items an attribute expression selects (batch_lines.segment_users)."""

    kind = "item-attribute-affinity"


class ItemAttributeAffinityRecipe(ItemAffinityRecipe):
    """aws-item-attribute-affinity."""

    arn = ITEM_ATTRIBUTE_AFFINITY_ARN
    model_cls = ItemAttributeAffinityModel
