"""The recipe catalogue: Personalize's recipe/algorithm ARNs, defaults and HPO ranges.

ListRecipes / DescribeRecipe / DescribeAlgorithm read this; training looks up
``factory`` to build the recipe object (imported lazily so that listing recipes
does not import numerical code).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

USER_PERSONALIZATION = "USER_PERSONALIZATION"
RELATED_ITEMS = "RELATED_ITEMS"
PERSONALIZED_RANKING = "PERSONALIZED_RANKING"
USER_SEGMENTATION = "USER_SEGMENTATION"

_RECIPE = "arn:aws:personalize:::recipe/"
_ALGORITHM = "arn:aws:personalize:::algorithm/"
_FEATURE = "arn:aws:personalize:::feature-transformation/"


def _lazy(module: str, attr: str) -> Callable[[], Any]:
    """A factory that imports ``module.attr`` on first use and instantiates it."""

    def factory() -> Any:
        return getattr(importlib.import_module(module), attr)()

    factory.__qualname__ = f"{module}.{attr}"
    return factory


def _ranges(
    integer: list[tuple[str, int, int, bool]] | None = None,
    continuous: list[tuple[str, float, float, bool]] | None = None,
    categorical: list[tuple[str, list[str], bool]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Build a botocore ``DefaultHyperParameterRanges`` dict."""
    return {
        "integerHyperParameterRanges": [
            {"name": n, "minValue": lo, "maxValue": hi, "isTunable": t} for n, lo, hi, t in integer or []
        ],
        "continuousHyperParameterRanges": [
            {"name": n, "minValue": lo, "maxValue": hi, "isTunable": t} for n, lo, hi, t in continuous or []
        ],
        "categoricalHyperParameterRanges": [
            {"name": n, "values": list(v), "isTunable": t} for n, v, t in categorical or []
        ],
    }


@dataclass(frozen=True)
class RecipeInfo:
    """One catalogue entry (the Recipe + Algorithm resources Personalize describes)."""

    arn: str
    name: str
    recipe_type: str
    description: str
    algorithm_arn: str
    feature_transformation_arn: str
    default_hyperparameters: dict[str, str] = field(default_factory=dict)
    hpo_ranges: dict[str, list[dict[str, Any]]] = field(default_factory=_ranges)
    factory: Callable[[], Any] | None = None
    default_feature_transformation_parameters: dict[str, str] = field(default_factory=dict)
    implemented: bool = True


# Hyperparameters for the user-personalization family. The Personalize names
# (hidden_dimension, bptt, recency_mask) are accepted and mapped onto our model;
# the others tune our EASE + iALS + recency ensemble directly.
_UP_DEFAULTS = {
    "hidden_dimension": "64",
    "bptt": "32",
    "recency_mask": "true",
    "min_user_history_length_percentile": "0.0",
    "max_user_history_length_percentile": "0.99",
    "ease_lambda": "200",
    "ease_max_items": "20000",
    "als_regularization": "0.05",
    "als_iterations": "15",
    "als_weight": "0.0",
    "recency_half_life": "2",
    "recency_floor": "0.02",
    "popularity_weight": "0.0",
    "transition_weight": "0.15",
    "repeat_model": "true",
}
_UP_RANGES = _ranges(
    integer=[
        ("hidden_dimension", 32, 256, True),
        ("bptt", 2, 64, True),
        ("ease_max_items", 500, 50000, False),
        ("als_iterations", 5, 50, False),
    ],
    continuous=[
        ("ease_lambda", 10.0, 3000.0, True),
        ("recency_half_life", 1.0, 500.0, True),
        ("recency_floor", 0.0, 1.0, True),
        ("als_weight", 0.0, 1.0, True),
        ("als_regularization", 0.001, 1.0, False),
        ("popularity_weight", 0.0, 1.0, False),
        ("transition_weight", 0.0, 0.5, False),
        ("min_user_history_length_percentile", 0.0, 1.0, False),
        ("max_user_history_length_percentile", 0.0, 1.0, False),
    ],
    categorical=[("recency_mask", ["true", "false"], True)],
)
_UP_FT = {"max_hist_length_percentile": "0.99", "min_hist_length_percentile": "0.0"}

_SIMS_DEFAULTS = {
    "popularity_discount_factor": "0.7",
    "event_strength_power": "2",
    "min_cointeraction_count": "3",
    "min_user_history_length_percentile": "0.005",
    "max_user_history_length_percentile": "0.995",
    "min_item_interaction_count_percentile": "0.01",
    "max_item_interaction_count_percentile": "0.9",
    "neighbours": "200",
}
_SIMS_RANGES = _ranges(
    integer=[("min_cointeraction_count", 0, 10, True), ("neighbours", 10, 1000, False)],
    continuous=[
        ("popularity_discount_factor", 0.0, 1.0, True),
        ("event_strength_power", 0.0, 3.0, True),
        ("min_user_history_length_percentile", 0.0, 1.0, False),
        ("max_user_history_length_percentile", 0.0, 1.0, False),
        ("min_item_interaction_count_percentile", 0.0, 1.0, False),
        ("max_item_interaction_count_percentile", 0.0, 1.0, False),
    ],
)

_MOD = "openpersonalize.recipes."

_CATALOGUE: list[RecipeInfo] = [
    RecipeInfo(
        arn=_RECIPE + "aws-user-personalization",
        name="aws-user-personalization",
        recipe_type=USER_PERSONALIZATION,
        description="Recommends items for a user from their current history (EASE + recency, "
        "folded in at request time), with item exploration for new items.",
        algorithm_arn=_ALGORITHM + "aws-user-personalization",
        feature_transformation_arn=_FEATURE + "sims",
        default_hyperparameters=dict(_UP_DEFAULTS),
        hpo_ranges=_UP_RANGES,
        factory=_lazy(_MOD + "user_personalization", "UserPersonalizationRecipe"),
        default_feature_transformation_parameters=dict(_UP_FT),
    ),
    RecipeInfo(
        arn=_RECIPE + "aws-user-personalization-v2",
        name="aws-user-personalization-v2",
        recipe_type=USER_PERSONALIZATION,
        description="User personalization v2: EASE + implicit iALS ensemble with recency-weighted "
        "fold-in, scalable to large catalogues.",
        algorithm_arn=_ALGORITHM + "aws-user-personalization-v2",
        feature_transformation_arn=_FEATURE + "sims",
        default_hyperparameters={**_UP_DEFAULTS, "als_weight": "0.3"},
        hpo_ranges=_UP_RANGES,
        factory=_lazy(_MOD + "user_personalization", "UserPersonalizationV2Recipe"),
        default_feature_transformation_parameters=dict(_UP_FT),
    ),
    RecipeInfo(
        arn=_RECIPE + "aws-personalized-ranking",
        name="aws-personalized-ranking",
        recipe_type=PERSONALIZED_RANKING,
        description="Ranks a given list of items for a user (user-personalization scores restricted to the list).",
        algorithm_arn=_ALGORITHM + "aws-personalized-ranking",
        feature_transformation_arn=_FEATURE + "sims",
        default_hyperparameters=dict(_UP_DEFAULTS),
        hpo_ranges=_UP_RANGES,
        factory=_lazy(_MOD + "ranking", "PersonalizedRankingRecipe"),
        default_feature_transformation_parameters=dict(_UP_FT),
    ),
    RecipeInfo(
        arn=_RECIPE + "aws-personalized-ranking-v2",
        name="aws-personalized-ranking-v2",
        recipe_type=PERSONALIZED_RANKING,
        description="Personalized ranking v2 (v2 user-personalization ensemble restricted to the list).",
        algorithm_arn=_ALGORITHM + "aws-personalized-ranking-v2",
        feature_transformation_arn=_FEATURE + "sims",
        default_hyperparameters={**_UP_DEFAULTS, "als_weight": "0.3"},
        hpo_ranges=_UP_RANGES,
        factory=_lazy(_MOD + "ranking", "PersonalizedRankingV2Recipe"),
        default_feature_transformation_parameters=dict(_UP_FT),
    ),
    RecipeInfo(
        arn=_RECIPE + "aws-sims",
        name="aws-sims",
        recipe_type=RELATED_ITEMS,
        description="Item-to-item similarity from co-interactions (popularity-discounted).",
        algorithm_arn=_ALGORITHM + "aws-sims",
        feature_transformation_arn=_FEATURE + "sims",
        default_hyperparameters={**_SIMS_DEFAULTS, "repeat_model": "true"},
        hpo_ranges=_SIMS_RANGES,
        factory=_lazy(_MOD + "sims", "SimsRecipe"),
    ),
    RecipeInfo(
        arn=_RECIPE + "aws-similar-items",
        name="aws-similar-items",
        recipe_type=RELATED_ITEMS,
        description="Related items from co-interactions blended with item metadata similarity, "
        "so items without interactions get neighbours.",
        algorithm_arn=_ALGORITHM + "aws-similar-items",
        feature_transformation_arn=_FEATURE + "similar-items",
        default_hyperparameters={**_SIMS_DEFAULTS, "metadata_weight": "0.3"},
        hpo_ranges=_ranges(
            integer=[("min_cointeraction_count", 0, 10, True)],
            continuous=[
                ("popularity_discount_factor", 0.0, 1.0, True),
                ("metadata_weight", 0.0, 1.0, True),
            ],
        ),
        factory=_lazy(_MOD + "sims", "SimilarItemsRecipe"),
    ),
    RecipeInfo(
        arn=_RECIPE + "aws-popularity-count",
        name="aws-popularity-count",
        recipe_type=USER_PERSONALIZATION,
        description="Most popular items by interaction count (same for every user).",
        algorithm_arn=_ALGORITHM + "aws-popularity-count",
        feature_transformation_arn=_FEATURE + "sims",
        default_hyperparameters={},
        hpo_ranges=_ranges(),
        factory=_lazy(_MOD + "popularity", "PopularityCountRecipe"),
    ),
    RecipeInfo(
        arn=_RECIPE + "aws-trending-now",
        name="aws-trending-now",
        recipe_type=USER_PERSONALIZATION,
        description="Items whose interactions rise fastest over the most recent window.",
        algorithm_arn=_ALGORITHM + "aws-trending-now",
        feature_transformation_arn=_FEATURE + "sims",
        default_hyperparameters={"trend_window_days": "7"},
        hpo_ranges=_ranges(continuous=[("trend_window_days", 0.04, 90.0, False)]),
        factory=_lazy(_MOD + "popularity", "TrendingNowRecipe"),
    ),
    RecipeInfo(
        arn=_RECIPE + "aws-item-affinity",
        name="aws-item-affinity",
        recipe_type=USER_SEGMENTATION,
        description="Segments of users most likely to interact with given items.",
        algorithm_arn=_ALGORITHM + "aws-item-affinity",
        feature_transformation_arn=_FEATURE + "item-affinity",
        default_hyperparameters=dict(_UP_DEFAULTS),
        hpo_ranges=_ranges(),
        factory=_lazy(_MOD + "segmentation", "ItemAffinityRecipe"),
    ),
    RecipeInfo(
        arn=_RECIPE + "aws-item-attribute-affinity",
        name="aws-item-attribute-affinity",
        recipe_type=USER_SEGMENTATION,
        description="Segments of users most likely to interact with items having given attributes.",
        algorithm_arn=_ALGORITHM + "aws-item-attribute-affinity",
        feature_transformation_arn=_FEATURE + "item-attribute-affinity",
        default_hyperparameters=dict(_UP_DEFAULTS),
        hpo_ranges=_ranges(),
        factory=_lazy(_MOD + "segmentation", "ItemAttributeAffinityRecipe"),
        implemented=False,
    ),
]

_BY_ARN = {r.arn: r for r in _CATALOGUE}


def all_recipes() -> list[RecipeInfo]:
    """Every recipe in the catalogue, in a stable order."""
    return list(_CATALOGUE)


def get_recipe(arn: str) -> RecipeInfo | None:
    """The catalogue entry for a recipe ARN, or None when unknown."""
    return _BY_ARN.get(arn)
