"""personalize-runtime REST glue: request bodies in, the runtime's typed requests; typed results out, bodies.

Bodies were validated against botocore's model already. The response bodies are built from the
output shapes' members only, so the app sends them without shaping (``preshaped_operations``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..runtime.actions import DEFAULT_ACTION_RESULTS
from ..runtime.requests import (
    DEFAULT_RESULTS,
    ActionRecommendRequest,
    PromotionRequest,
    RankedItem,
    Ranking,
    RankRequest,
    Recommendations,
    RecommendedItem,
    RecommendRequest,
)
from ..runtime.service import RuntimeService

RestHandler = Callable[[str, dict[str, Any]], dict[str, Any]]


def recommend_request(params: dict[str, Any]) -> RecommendRequest:
    """A GetRecommendations body as a ``RecommendRequest``."""
    promotions = [
        PromotionRequest(
            p.get("name"), p.get("percentPromotedItems", 0), p.get("filterArn"), p.get("filterValues") or {}
        )
        for p in params.get("promotions") or ()
    ]
    return RecommendRequest(
        campaign_arn=params.get("campaignArn"),
        user_id=params.get("userId"),
        item_id=params.get("itemId"),
        num_results=params.get("numResults", DEFAULT_RESULTS),
        filter_arn=params.get("filterArn"),
        filter_values=params.get("filterValues") or {},
        context=params.get("context") or {},
        metadata_columns=params.get("metadataColumns") or {},
        promotions=promotions,
        recommender_arn=params.get("recommenderArn"),
    )


def rank_request(params: dict[str, Any]) -> RankRequest:
    """A GetPersonalizedRanking body as a ``RankRequest``."""
    return RankRequest(
        campaign_arn=params.get("campaignArn"),
        user_id=params.get("userId"),
        input_list=params["inputList"],
        filter_arn=params.get("filterArn"),
        filter_values=params.get("filterValues") or {},
        context=params.get("context") or {},
        metadata_columns=params.get("metadataColumns") or {},
    )


def action_request(params: dict[str, Any]) -> ActionRecommendRequest:
    """A GetActionRecommendations body as an ``ActionRecommendRequest``."""
    return ActionRecommendRequest(
        campaign_arn=params.get("campaignArn"),
        user_id=params.get("userId"),
        num_results=params.get("numResults", DEFAULT_ACTION_RESULTS),
        filter_arn=params.get("filterArn"),
        filter_values=params.get("filterValues") or {},
    )


def recommendations_body(result: Recommendations) -> dict[str, Any]:
    """GetRecommendations' response body (a plain item, the usual one, in a single dict display)."""
    items = [
        {"itemId": item.item_id, "score": item.score}
        if not item.promotion and item.metadata is None and not item.reason
        else _recommended_entry(item)
        for item in result.items
    ]
    return {"itemList": items, "recommendationId": result.recommendation_id}


def _recommended_entry(item: RecommendedItem) -> dict[str, Any]:
    entry: dict[str, Any] = {"itemId": item.item_id, "score": item.score}
    if item.promotion:
        entry["promotionName"] = item.promotion
    if item.metadata is not None:
        entry["metadata"] = item.metadata
    if item.reason:
        entry["reason"] = list(item.reason)
    return entry


def ranking_body(result: Ranking) -> dict[str, Any]:
    """GetPersonalizedRanking's response body (an unscored item has no ``score``; a scored one without
    metadata, the usual one, is built in a single dict display)."""
    items = [
        {"itemId": item.item_id, "score": item.score}
        if item.score is not None and item.metadata is None
        else _ranked_entry(item)
        for item in result.items
    ]
    return {"personalizedRanking": items, "recommendationId": result.recommendation_id}


def _ranked_entry(item: RankedItem) -> dict[str, Any]:
    entry: dict[str, Any] = {"itemId": item.item_id}
    if item.score is not None:
        entry["score"] = item.score
    if item.metadata is not None:
        entry["metadata"] = item.metadata
    return entry


def runtime_routes(runtime: RuntimeService) -> dict[str, RestHandler]:
    """The personalize-runtime operations for PersonalizeApp's ``rest_handlers`` (all preshaped)."""

    def get_recommendations(_region: str, params: dict[str, Any]) -> dict[str, Any]:
        return recommendations_body(runtime.recommend(recommend_request(params)))

    def get_personalized_ranking(_region: str, params: dict[str, Any]) -> dict[str, Any]:
        return ranking_body(runtime.rank(rank_request(params)))

    def get_action_recommendations(_region: str, params: dict[str, Any]) -> dict[str, Any]:
        result = runtime.recommend_actions(action_request(params))
        return {"actionList": list(result.actions), "recommendationId": result.recommendation_id}

    return {
        "GetRecommendations": get_recommendations,
        "GetPersonalizedRanking": get_personalized_ranking,
        "GetActionRecommendations": get_action_recommendations,
    }
