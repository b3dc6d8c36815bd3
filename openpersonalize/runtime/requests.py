"""The runtime's typed requests and results: what ``RuntimeService``'s entry points take and return.

The REST glue (``api.runtime_routes``) builds these from request bodies already validated against
botocore's model and turns the results into response bodies; the runtime never sees a dict request.

They are plain slotted dataclasses, not frozen ones: a frozen dataclass sets each field through
``object.__setattr__``, ~3x the cost, and a request builds one per result item (25 to 500 of them).
Nothing changes them once built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

DEFAULT_RESULTS = 25
MAX_RESULTS = 500
T = TypeVar("T")


@dataclass(slots=True)
class PromotionRequest:
    """Items of another filter mixed into a share of the recommendations."""

    name: str | None = None
    percent: int = 0
    filter_arn: str | None = None
    filter_values: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class RecommendRequest:
    """GetRecommendations: a user's (USER_PERSONALIZATION) or an item's (RELATED_ITEMS) best items."""

    campaign_arn: str | None
    user_id: str | None = None
    item_id: str | None = None
    num_results: int = DEFAULT_RESULTS
    filter_arn: str | None = None
    filter_values: Mapping[str, str] = field(default_factory=dict)
    context: Mapping[str, str] = field(default_factory=dict)
    metadata_columns: Mapping[str, Sequence[str]] = field(default_factory=dict)
    promotions: Sequence[PromotionRequest] = ()
    recommender_arn: str | None = None


@dataclass(slots=True)
class RankRequest:
    """GetPersonalizedRanking: the caller's items in the order a user would like them."""

    campaign_arn: str | None
    user_id: str | None
    input_list: Sequence[str]
    filter_arn: str | None = None
    filter_values: Mapping[str, str] = field(default_factory=dict)
    context: Mapping[str, str] = field(default_factory=dict)
    metadata_columns: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(slots=True)
class ActionRecommendRequest:
    """GetActionRecommendations: a user's best actions (from an ACTIONS dataset)."""

    campaign_arn: str | None
    user_id: str | None = None
    num_results: int = DEFAULT_RESULTS
    filter_arn: str | None = None
    filter_values: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class RecommendedItem:
    """One recommended item: its rounded score, the promotion that placed it, its metadata when asked for, and
    why it is there besides relevance (Personalize's ``reason``: "Promoted item", "Exploration")."""

    item_id: str
    score: float
    promotion: str | None = None
    metadata: Mapping[str, str] | None = None
    reason: tuple[str, ...] = ()


@dataclass(slots=True)
class RankedItem:
    """One item of a ranked list; ``score`` is None for an item the model does not score."""

    item_id: str
    score: float | None = None
    metadata: Mapping[str, str] | None = None


@dataclass(slots=True)
class Answer(Generic[T]):
    """A runtime answer: its items best first, and the recommendationId naming it."""

    items: Sequence[T]
    recommendation_id: str


class Recommendations(Answer[RecommendedItem]):
    """GetRecommendations' answer."""

    __slots__ = ()


class Ranking(Answer[RankedItem]):
    """GetPersonalizedRanking's answer: the caller's items best first (unscored ones last)."""

    __slots__ = ()


@dataclass(slots=True)
class ActionRecommendations:
    """GetActionRecommendations' answer: actions best first, as ``{"actionId", "score"}``."""

    actions: Sequence[Mapping[str, Any]]
    recommendation_id: str
