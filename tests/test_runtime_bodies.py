"""The runtime's response bodies (api/runtime_routes.py): plain items take a one-display fast path,
the others carry every member they have, and both are already in the output shape (the app sends
them unshaped)."""

from __future__ import annotations

from openpersonalize.api.runtime_routes import ranking_body, recommendations_body
from openpersonalize.api.shapes import service_model, shape_output
from openpersonalize.runtime.requests import RankedItem, Ranking, Recommendations, RecommendedItem

RUNTIME = service_model("personalize-runtime")


def test_recommendation_items_carry_what_they_have() -> None:
    result = Recommendations(
        [
            RecommendedItem("a", 0.5),
            RecommendedItem("b", 0.4, "promo", None, ("Promoted item",)),
            RecommendedItem("c", 0.3, None, {"GENRE": "Comedy"}),
            RecommendedItem("d", 0.2, "", None, ()),
            RecommendedItem("e", 0.1, None, None, ("Exploration",)),
        ],
        "RID-1",
    )
    body = recommendations_body(result)
    assert body == {
        "itemList": [
            {"itemId": "a", "score": 0.5},
            {"itemId": "b", "score": 0.4, "promotionName": "promo", "reason": ["Promoted item"]},
            {"itemId": "c", "score": 0.3, "metadata": {"GENRE": "Comedy"}},
            {"itemId": "d", "score": 0.2},
            {"itemId": "e", "score": 0.1, "reason": ["Exploration"]},
        ],
        "recommendationId": "RID-1",
    }
    assert shape_output(RUNTIME.operation_model("GetRecommendations").output_shape, body) == body


def test_ranked_items_carry_what_they_have() -> None:
    result = Ranking(
        [
            RankedItem("a", 0.5),
            RankedItem("b", None),
            RankedItem("c", 0.1, {"GENRE": "Drama"}),
            RankedItem("d", None, {"GENRE": "Horror"}),
        ],
        "RID-2",
    )
    body = ranking_body(result)
    assert body == {
        "personalizedRanking": [
            {"itemId": "a", "score": 0.5},
            {"itemId": "b"},
            {"itemId": "c", "score": 0.1, "metadata": {"GENRE": "Drama"}},
            {"itemId": "d", "metadata": {"GENRE": "Horror"}},
        ],
        "recommendationId": "RID-2",
    }
    assert shape_output(RUNTIME.operation_model("GetPersonalizedRanking").output_shape, body) == body
