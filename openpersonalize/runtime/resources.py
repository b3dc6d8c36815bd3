"""What the runtime reads of the lifecycle: typed views of campaigns, solution versions, datasets and filters.

The control plane owns these resources; it implements ``ResourceLookup`` (``control.resource_lookup``)
and the server assembly hands it to ``RuntimeService``, so the runtime never imports ``control``.
Lookups read the metadata store each time; the runtime caches what it needs for a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import InvalidInputException, ResourceNotFoundException
from ..recipes.registry import UseCase


@dataclass(frozen=True)
class CampaignView:
    """A campaign as the runtime serves it."""

    arn: str
    status: str
    active: bool
    version_arn: str
    metadata_enabled: bool  # campaignConfig.enableMetadataWithRecommendations
    exploration: Mapping[str, Any] | None  # campaignConfig.itemExplorationConfig
    ranking_influence: Mapping[str, float] | None = None  # campaignConfig.rankingInfluence
    use_case: UseCase | None = None  # a recommender's: its userId rule and automatic exclusion


@dataclass(frozen=True)
class VersionView:
    """A solution version: its dataset group, recipe type and (once ACTIVE) its model's object-store key."""

    arn: str
    active: bool
    group_arn: str
    recipe_type: str
    model_key: str | None


@dataclass(frozen=True)
class DatasetView:
    """An ITEMS or USERS dataset: its snapshot's object-store key (None before the first import) and its id."""

    arn: str
    snapshot_key: str | None
    snapshot_id: str | None


@dataclass(frozen=True)
class GroupDatasets:
    """The metadata datasets of a dataset group that requests read."""

    items: DatasetView | None
    users: DatasetView | None
    actions: DatasetView | None = None  # Next-Best-Action's catalogue


@dataclass(frozen=True)
class FilterView:
    """A filter: its dataset group and expression; ``failure`` is a failed filter's failureReason."""

    arn: str
    group_arn: str
    expression: str
    failure: str | None = None


def usable_filter(view: FilterView | None, arn: str, group_arn: str, field: str = "filterArn") -> FilterView:
    """``view`` when a request on ``group_arn`` may apply it; else the client's error naming ``field``."""
    if view is None:
        raise ResourceNotFoundException(f"{field} {arn} does not exist.")
    if view.failure is not None:
        raise InvalidInputException(f"{field} {arn} is not ACTIVE: {view.failure}")
    if view.group_arn != group_arn:
        raise InvalidInputException(f"{field} {arn} belongs to another dataset group than the campaign or recommender.")
    return view


class ResourceLookup(Protocol):
    """Where the deployed model, its datasets and filters are for an ARN (None: no such resource of that kind)."""

    def campaign(self, arn: str) -> CampaignView | None: ...

    def recommender(self, arn: str) -> CampaignView | None:
        """A recommender, served like a campaign of its current model (``version_arn``)."""
        ...

    def version(self, arn: str) -> VersionView | None: ...

    def datasets(self, group_arn: str) -> GroupDatasets: ...

    def filter(self, arn: str) -> FilterView | None: ...

    def active_campaigns(self) -> list[CampaignView]:
        """ACTIVE campaigns, newest first."""
        ...

    def local_copy(self, key: str | None) -> Path | None:
        """A local directory holding a model or snapshot key (fetched from the object store on first use).

        May download: call it only where loading is allowed (a cache's loader, never on the event loop).
        """
        ...
