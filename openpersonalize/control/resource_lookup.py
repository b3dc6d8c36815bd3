"""The runtime's ``ResourceLookup`` over the metadata store: stored documents as the runtime's typed views."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import ResourceNotFoundException, ServiceUnavailable
from ..recipes.registry import USER_PERSONALIZATION, get_recipe
from ..runtime.resources import CampaignView, DatasetView, FilterView, GroupDatasets, VersionView
from ..store.metadata import Resource
from ..store.objects import ObjectMissing, ObjectStoreError
from .base import ACTIVE, Control
from .kinds import CAMPAIGN, DATASET, FILTER, RECOMMENDER, RECOMMENDER_TRAINING, SOLUTION_VERSION

log = logging.getLogger(__name__)


class StoredResourceLookup:
    """Reads campaigns, solution versions, datasets and filters from ``control``'s store on every call."""

    def __init__(self, control: Control) -> None:
        self.control = control

    def _get(self, arn: str, kind: str) -> Resource | None:
        res = self.control.store.get(arn)
        return res if res is not None and res.kind == kind else None

    @staticmethod
    def _campaign_view(res: Resource) -> CampaignView:
        config = res.doc.get("campaignConfig") or {}
        return CampaignView(
            arn=res.arn,
            status=str(res.status),
            active=res.status == ACTIVE,
            version_arn=res.doc["solutionVersionArn"],
            metadata_enabled=bool(config.get("enableMetadataWithRecommendations")),
            exploration=config.get("itemExplorationConfig") or None,
            ranking_influence=config.get("rankingInfluence") or None,
        )

    def campaign(self, arn: str) -> CampaignView | None:
        res = self._get(arn, CAMPAIGN.kind)
        return self._campaign_view(res) if res is not None else None

    def recommender(self, arn: str) -> CampaignView | None:
        """A recommender as a campaign of its current training's model, with its use case."""
        res = self._get(arn, RECOMMENDER.kind)
        if res is None:
            return None
        config = res.doc.get("recommenderConfig") or {}
        recipe = get_recipe(res.doc["recipeArn"])
        return CampaignView(
            arn=res.arn,
            status=str(res.status),
            active=res.status == ACTIVE and bool(res.doc.get("_training")),
            version_arn=res.doc.get("_training") or "",
            metadata_enabled=bool(config.get("enableMetadataWithRecommendations")),
            exploration=config.get("itemExplorationConfig") or None,
            use_case=recipe.use_case if recipe else None,
        )

    def version(self, arn: str) -> VersionView | None:
        """A solution version, or a recommender's training (its model is served the same way)."""
        res = self._get(arn, SOLUTION_VERSION.kind) or self._get(arn, RECOMMENDER_TRAINING)
        if res is None:
            return None
        recipe = get_recipe(res.doc["recipeArn"])
        model = res.doc.get("_model")
        return VersionView(
            arn=res.arn,
            active=res.status == ACTIVE,
            group_arn=res.doc["datasetGroupArn"],
            recipe_type=recipe.recipe_type if recipe else USER_PERSONALIZATION,
            model_key=model,
        )

    def datasets(self, group_arn: str) -> GroupDatasets:
        by_type = {d.doc["datasetType"]: d for d in self.control.store.children(group_arn, (DATASET.kind,))}

        def view(kind: str) -> DatasetView | None:
            res = by_type.get(kind)
            if res is None:
                return None
            return DatasetView(res.arn, res.doc.get("_snapshot"), res.doc.get("_snapshotId"))

        return GroupDatasets(items=view("ITEMS"), users=view("USERS"), actions=view("ACTIONS"))

    def filter(self, arn: str) -> FilterView | None:
        res = self._get(arn, FILTER.kind)
        if res is None:
            return None
        failure = None if res.status == ACTIVE else res.doc.get("failureReason") or res.status
        return FilterView(res.arn, res.doc["datasetGroupArn"], res.doc["filterExpression"], failure)

    def local_copy(self, key: str | None) -> Path | None:
        """The key's local copy; a key gone from the store is ResourceNotFoundException, a store that cannot be
        read ServiceUnavailable (the reason, which names the store, goes to the log, not to the client)."""
        try:
            return self.control.objects.local_path(key)
        except ObjectMissing:
            raise ResourceNotFoundException(f"The stored model or snapshot {key} no longer exists.") from None
        except ObjectStoreError as exc:
            log.warning("cannot read %s: %s", key, exc)
            msg = f"The stored model or snapshot {key} cannot be read from the object store now; retry later."
            raise ServiceUnavailable(msg) from None

    def active_campaigns(self) -> list[CampaignView]:
        return [self._campaign_view(c) for c in self.control.store.list(CAMPAIGN.kind) if c.status == ACTIVE]
