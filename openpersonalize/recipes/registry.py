"""The recipe catalogue: every recipe's ARN, type, defaults and HPO ranges, stated here once.

ListRecipes / DescribeRecipe / DescribeAlgorithm / DescribeFeatureTransformation read it;
training builds the recipe object an entry names (``recipe_class``), imported only then so
that listing recipes does not import numerical code. Recipe classes take their ARN from the
constants below and their type and defaults from their entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

USER_PERSONALIZATION = "USER_PERSONALIZATION"
RELATED_ITEMS = "RELATED_ITEMS"
PERSONALIZED_RANKING = "PERSONALIZED_RANKING"
USER_SEGMENTATION = "USER_SEGMENTATION"
PERSONALIZED_ACTIONS = "PERSONALIZED_ACTIONS"

_RECIPE = "arn:aws:personalize:::recipe/"
_ALGORITHM = "arn:aws:personalize:::algorithm/"
_FEATURE = "arn:aws:personalize:::feature-transformation/"

UP_ARN = _RECIPE + "aws-user-personalization"
UP_V2_ARN = _RECIPE + "aws-user-personalization-v2"
RANKING_ARN = _RECIPE + "aws-personalized-ranking"
RANKING_V2_ARN = _RECIPE + "aws-personalized-ranking-v2"
SIMS_ARN = _RECIPE + "aws-sims"
SIMILAR_ITEMS_ARN = _RECIPE + "aws-similar-items"
POPULARITY_ARN = _RECIPE + "aws-popularity-count"
TRENDING_ARN = _RECIPE + "aws-trending-now"
ITEM_AFFINITY_ARN = _RECIPE + "aws-item-affinity"
ITEM_ATTRIBUTE_AFFINITY_ARN = _RECIPE + "aws-item-attribute-affinity"
NEXT_BEST_ACTION_ARN = _RECIPE + "aws-next-best-action"

VIDEO_ON_DEMAND = "VIDEO_ON_DEMAND"
ECOMMERCE = "ECOMMERCE"


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
class UseCase:
    """What a domain recipe (a recommender's use case) demands and does, as Personalize documents it.

    ``required_event_type``: at least MIN_USE_CASE_EVENTS interactions of it (None: of any type),
    which the model also trains on alone when ``trains_on_required``; ``user_id``: whether
    GetRecommendations needs a userId ("required") or takes one ("optional"); ``excluded_event_type``:
    items the user has interactions of that type with are never recommended (before any filter);
    ``datasets``: the datasets that must exist; ``exploration``: whether itemExplorationConfig applies.
    """

    domain: str
    required_event_type: str | None
    trains_on_required: bool
    user_id: str
    excluded_event_type: str | None = None
    datasets: tuple[str, ...] = ("INTERACTIONS",)
    exploration: bool = False


MIN_USE_CASE_EVENTS = 1000


@dataclass(frozen=True)
class RecipeInfo:
    """One catalogue entry (the Recipe, Algorithm and FeatureTransformation resources Personalize describes)."""

    arn: str
    recipe_type: str
    description: str
    recipe_class: str  # "<module in openpersonalize.recipes>:<class>", the Recipe that trains it
    feature_transformation: str = "sims"
    default_hyperparameters: dict[str, str] = field(default_factory=dict)
    hpo_ranges: dict[str, list[dict[str, Any]]] = field(default_factory=_ranges)
    default_feature_transformation_parameters: dict[str, str] = field(default_factory=dict)
    implemented: bool = True
    use_case: UseCase | None = None  # set for the domain recipes recommenders train

    @property
    def domain(self) -> str | None:
        """VIDEO_ON_DEMAND or ECOMMERCE for a domain recipe, None for a custom one."""
        return self.use_case.domain if self.use_case else None

    @property
    def name(self) -> str:
        """The recipe's name, the last part of its ARN (``aws-sims``)."""
        return self.arn.removeprefix(_RECIPE)

    def bounds(self, name: str) -> tuple[float, float, bool] | None:
        """(lowest, highest, whether whole) of hyperparameter ``name``'s documented range (None: no numeric one)."""
        for kind, whole in (("integerHyperParameterRanges", True), ("continuousHyperParameterRanges", False)):
            for entry in self.hpo_ranges[kind]:
                if entry["name"] == name:
                    return entry["minValue"], entry["maxValue"], whole
        return None

    @property
    def algorithm_arn(self) -> str:
        """The ARN of the algorithm behind the recipe (same name)."""
        return _ALGORITHM + self.name

    @property
    def feature_transformation_arn(self) -> str:
        """The ARN of the recipe's feature transformation."""
        return _FEATURE + self.feature_transformation


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
# the history-length percentiles both families accept but do not tune
_HISTORY_PERCENTILES = [
    ("min_user_history_length_percentile", 0.0, 1.0, False),
    ("max_user_history_length_percentile", 0.0, 1.0, False),
]
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
        *_HISTORY_PERCENTILES,
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
        *_HISTORY_PERCENTILES,
        ("min_item_interaction_count_percentile", 0.0, 1.0, False),
        ("max_item_interaction_count_percentile", 0.0, 1.0, False),
    ],
)


def _user_personalization_family(
    arn: str, recipe_type: str, description: str, recipe_class: str, v2: bool
) -> RecipeInfo:
    """An entry of the user-personalization family (v1/v2, ranking): one set of defaults and ranges; v2 adds iALS."""
    return RecipeInfo(
        arn,
        recipe_type,
        description,
        recipe_class,
        default_hyperparameters={**_UP_DEFAULTS, "als_weight": "0.3" if v2 else _UP_DEFAULTS["als_weight"]},
        hpo_ranges=_UP_RANGES,
        default_feature_transformation_parameters=dict(_UP_FT),
    )


_CATALOGUE: list[RecipeInfo] = [
    _user_personalization_family(
        UP_ARN,
        USER_PERSONALIZATION,
        "Recommends items for a user from their current history (EASE + recency, "
        "folded in at request time), with item exploration for new items.",
        "user_personalization:UserPersonalizationRecipe",
        v2=False,
    ),
    _user_personalization_family(
        UP_V2_ARN,
        USER_PERSONALIZATION,
        "User personalization v2: EASE + implicit iALS ensemble with recency-weighted "
        "fold-in, scalable to large catalogues.",
        "user_personalization:UserPersonalizationV2Recipe",
        v2=True,
    ),
    _user_personalization_family(
        RANKING_ARN,
        PERSONALIZED_RANKING,
        "Ranks a given list of items for a user (user-personalization scores restricted to the list).",
        "ranking:PersonalizedRankingRecipe",
        v2=False,
    ),
    _user_personalization_family(
        RANKING_V2_ARN,
        PERSONALIZED_RANKING,
        "Personalized ranking v2 (v2 user-personalization ensemble restricted to the list).",
        "ranking:PersonalizedRankingV2Recipe",
        v2=True,
    ),
    RecipeInfo(
        SIMS_ARN,
        RELATED_ITEMS,
        "Item-to-item similarity from co-interactions (popularity-discounted).",
        "sims:SimsRecipe",
        default_hyperparameters={**_SIMS_DEFAULTS, "repeat_model": "true"},
        hpo_ranges=_SIMS_RANGES,
    ),
    RecipeInfo(
        SIMILAR_ITEMS_ARN,
        RELATED_ITEMS,
        "Related items from co-interactions blended with item metadata similarity, "
        "so items without interactions get neighbours.",
        "sims:SimilarItemsRecipe",
        feature_transformation="similar-items",
        default_hyperparameters={**_SIMS_DEFAULTS, "metadata_weight": "0.3"},
        hpo_ranges=_ranges(
            integer=[("min_cointeraction_count", 0, 10, True)],
            continuous=[
                ("popularity_discount_factor", 0.0, 1.0, True),
                ("metadata_weight", 0.0, 1.0, True),
            ],
        ),
    ),
    RecipeInfo(
        POPULARITY_ARN,
        USER_PERSONALIZATION,
        "Most popular items by interaction count (same for every user).",
        "popularity:PopularityCountRecipe",
    ),
    RecipeInfo(
        TRENDING_ARN,
        USER_PERSONALIZATION,
        "Items whose interactions rise fastest over the most recent window.",
        "popularity:TrendingNowRecipe",
        default_hyperparameters={"trend_window_days": "7"},
        hpo_ranges=_ranges(continuous=[("trend_window_days", 0.04, 90.0, False)]),
    ),
    RecipeInfo(
        ITEM_AFFINITY_ARN,
        USER_SEGMENTATION,
        "Segments of users most likely to interact with given items.",
        "segmentation:ItemAffinityRecipe",
        feature_transformation="item-affinity",
        default_hyperparameters=dict(_UP_DEFAULTS),
    ),
    RecipeInfo(
        ITEM_ATTRIBUTE_AFFINITY_ARN,
        USER_SEGMENTATION,
        "Segments of users most likely to interact with items having given attributes.",
        "segmentation:ItemAttributeAffinityRecipe",
        feature_transformation="item-attribute-affinity",
        default_hyperparameters=dict(_UP_DEFAULTS),
    ),
]


def _domain_recipe(
    name: str,
    family: RecipeInfo,
    description: str,
    use_case: UseCase,
    defaults: dict[str, str] | None = None,
    recipe_class: str | None = None,
) -> RecipeInfo:
    """A use case trained by one of our recipe families (``family``: its type, class and defaults, here
    overridden by ``defaults`` and ``recipe_class``, a subclass for the job, where benchmarks/domain_quality.py
    showed the family's own fall behind the simplest baseline)."""
    return RecipeInfo(
        _RECIPE + name,
        family.recipe_type,
        description,
        recipe_class or family.recipe_class,
        family.feature_transformation,
        {**family.default_hyperparameters, **(defaults or {})},
        family.hpo_ranges,
        dict(family.default_feature_transformation_parameters),
        use_case=use_case,
    )


_FAMILY = {r.arn: r for r in _CATALOGUE}


def _most_popular(name: str, domain: str, event_type: str, description: str) -> RecipeInfo:
    """A use case ranking the items with the most ``event_type`` interactions (aws-popularity-count on them alone)."""
    return _domain_recipe(name, _FAMILY[POPULARITY_ARN], description, UseCase(domain, event_type, True, "required"))


_WATCH, _VIEW, _PURCHASE = "Watch", "View", "Purchase"
# Item shelves rank by co-interaction counts (no popularity discount): the next item or the visit-mate is
# more often a popular one; the ECOMMERCE ones add co-interactions within one visit (recipes/together.py).
_RELATED = {"popularity_discount_factor": "0"}
_TOGETHER = {**_RELATED, "visit_gap_seconds": "1800", "visit_weight": "30"}
# Viewed together: every viewer counts once (a repeat view is no stronger evidence, no viewer is left out) and
# the visit term only breaks near-ties of the users' co-views. Chosen on the benchmark's seeds 0-4 and checked
# on seeds 10-14 (NDCG@10 0.296 against raw co-occurrence's 0.290).
_VIEWED_TOGETHER = {
    **_TOGETHER,
    "visit_weight": "0.5",
    "event_strength_power": "0",
    "min_cointeraction_count": "1",
    "min_user_history_length_percentile": "0.0",
    "max_user_history_length_percentile": "1.0",
}
_CATALOGUE += [
    _domain_recipe(
        "aws-vod-top-picks",
        _FAMILY[UP_V2_ARN],
        "Top picks for you: personalized video recommendations; videos the user watched are left out.",
        UseCase(VIDEO_ON_DEMAND, None, False, "required", _WATCH, exploration=True),
    ),
    _domain_recipe(
        "aws-vod-trending-now",
        _FAMILY[TRENDING_ARN],
        "Trending now: the videos drawing the most interactions lately (counts halved every 30 days).",
        UseCase(VIDEO_ON_DEMAND, None, False, "optional"),
        {"trend_half_life_days": "30"},
        "popularity:RecentPopularityRecipe",
    ),
    _most_popular("aws-vod-most-popular", VIDEO_ON_DEMAND, _WATCH, "Most popular: the videos watched most."),
    _domain_recipe(
        "aws-vod-more-like-x",
        _FAMILY[SIMILAR_ITEMS_ARN],
        "More like X: videos similar to a video (co-interactions and item metadata); watched ones left out.",
        UseCase(VIDEO_ON_DEMAND, None, False, "required", _WATCH, ("INTERACTIONS", "ITEMS")),
        _RELATED,
    ),
    _domain_recipe(
        "aws-vod-because-you-watched-x",
        _FAMILY[SIMS_ARN],
        "Because you watched X: videos other viewers of a video also watched; watched ones left out.",
        UseCase(VIDEO_ON_DEMAND, _WATCH, True, "required", _WATCH),
        _RELATED,
    ),
    _domain_recipe(
        "aws-ecomm-recommended-for-you",
        _FAMILY[UP_V2_ARN],
        "Recommended for you: personalized product recommendations; purchased items are left out.",
        UseCase(ECOMMERCE, _VIEW, False, "required", _PURCHASE, exploration=True),
    ),
    _most_popular("aws-ecomm-popular-items-by-views", ECOMMERCE, _VIEW, "Most viewed: the items viewed most."),
    _most_popular(
        "aws-ecomm-popular-items-by-purchases", ECOMMERCE, _PURCHASE, "Best sellers: the items purchased most."
    ),
    _domain_recipe(
        "aws-ecomm-frequently-bought-together",
        _FAMILY[SIMS_ARN],
        "Frequently bought together: items purchased with an item by the same customers.",
        UseCase(ECOMMERCE, _PURCHASE, True, "optional"),
        _TOGETHER,
        "together:TogetherRecipe",
    ),
    _domain_recipe(
        "aws-ecomm-customers-who-viewed-x-also-viewed",
        _FAMILY[SIMS_ARN],
        "Customers who viewed X also viewed: items viewed with an item; purchased ones left out.",
        UseCase(ECOMMERCE, _VIEW, False, "required", _PURCHASE),
        _VIEWED_TOGETHER,
        "together:TogetherRecipe",
    ),
]

_CATALOGUE.append(
    RecipeInfo(
        NEXT_BEST_ACTION_ARN,
        PERSONALIZED_ACTIONS,
        "The actions a user is most likely to take within the action optimization period: a ridge model "
        "over the items they interacted with and the actions they took, declined or viewed.",
        "next_best_action:NextBestActionRecipe",
        feature_transformation="next-best-action",
        default_feature_transformation_parameters={"action_optimization_period": "14"},
        default_hyperparameters={
            "action_optimization_period": "14",
            "ridge_lambda": "100",
            "max_item_features": "1000",
        },
        hpo_ranges=_ranges(
            integer=[("action_optimization_period", 1, 365, False), ("max_item_features", 0, 5000, False)],
            continuous=[("ridge_lambda", 0.01, 10000.0, False)],
        ),
    )
)

_BY_ARN = {r.arn: r for r in _CATALOGUE}


def all_recipes() -> list[RecipeInfo]:
    """Every recipe in the catalogue, in a stable order."""
    return list(_CATALOGUE)


def get_recipe(arn: str) -> RecipeInfo | None:
    """The catalogue entry for a recipe ARN, or None when unknown."""
    return _BY_ARN.get(arn)
