"""personalize-runtime: GetRecommendations and GetPersonalizedRanking.

Resolves the campaign, its deployed model, filters and metadata (short-lived caches,
so a campaign switch or a new import is seen within a second), then hands the
arithmetic to ``runtime``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.csv_import import read_snapshot
from ..data.tables import upsert_rows
from ..data.training_data import UserHistory
from ..errors import InvalidInputException, ResourceNotFoundException
from ..filters import FilterExpr, FilterValueError, parse_filter
from ..recipes.registry import PERSONALIZED_RANKING, RELATED_ITEMS, USER_PERSONALIZATION, get_recipe
from ..runtime.cache import ArrayCache, LoadingCache
from ..runtime.deployed import Deployed, LiveEvent, Promotion, RankedIds, history_digest
from ..runtime.id_index import IdIndex
from ..runtime.scored import HEAD_ITEMS, ScoredItems
from ..store.metadata import Resource
from . import campaigns, datasets, filters
from .base import ACTIVE, Control

log = logging.getLogger(__name__)

MAX_RESULTS = 500
DEFAULT_RESULTS = 25
DOC_TTL_SECONDS = 1.0
DEFAULT_SCORE_CACHE_BYTES = 128 << 20

# (dataset group arn, user id or None, session id or None) -> live events as (item id, timestamp, event type)
LiveEventSource = Callable[[str, str | None, str | None], Sequence[tuple[str, float, str]]]


class _DocCache:
    """Resource documents cached for a second: the hot path reads SQL at most once a second per ARN."""

    def __init__(self, control: Control) -> None:
        self.control = control
        self._docs: dict[str, tuple[float, Resource | None]] = {}
        self._lock = threading.Lock()

    def get(self, arn: str) -> Resource | None:
        now = time.monotonic()
        with self._lock:
            hit = self._docs.get(arn)
        if hit and hit[0] > now:
            return hit[1]
        res = self.control.store.get(arn)
        with self._lock:
            self._docs[arn] = (now + DOC_TTL_SECONDS, res)
        return res


def _users_table(path: Path | None) -> dict[str, dict[str, Any]]:
    table = read_snapshot(path)
    if table is None:
        return {}
    return {str(row.pop("USER_ID")): row for row in table.to_pylist()}


def stored_live_events(control: Control) -> LiveEventSource:
    """Live events from the event store, read on every request (a PutEvents 200 is visible at once).

    Anonymous users ask for recommendations with their sessionId as userId, as in Personalize,
    so events of that session which no user has claimed yet count too.
    """
    events = control.events

    def source(group: str, user_id: str | None, session_id: str | None) -> list[tuple[str, float, str]]:
        return events.item_history(group, user_id, session_id)

    return source


class RuntimeService:
    """Serves the runtime API from deployed models; one per server process."""

    def __init__(
        self,
        control: Control,
        live_events: LiveEventSource | None = None,
        score_cache_bytes: int = DEFAULT_SCORE_CACHE_BYTES,
    ) -> None:
        self.control = control
        self.live_events = live_events or stored_live_events(control)
        self.reads_event_store = live_events is None  # batch jobs may then prefetch a group's events at once
        self.scores: ArrayCache[ScoredItems] = ArrayCache(score_cache_bytes)
        self._docs = _DocCache(control)
        self._models: LoadingCache[Any] = LoadingCache(8)
        self._deployed: LoadingCache[Deployed] = LoadingCache(8)
        self._filters: LoadingCache[FilterExpr] = LoadingCache(256)
        self._group_datasets: dict[str, tuple[float, dict[str, Resource]]] = {}

    # -- loading -----------------------------------------------------------
    def load_model(self, version_arn: str) -> Any:
        """The solution version's model, memory-mapped, cached and warmed (the deploy job calls this).

        Warming scores one training user and looks an id up: the compiled kernels of the model and of
        list ranking load from their on-disk cache (or compile, once per install) at deploy time rather
        than on a request.
        """

        def load() -> Any:
            from ..recipes.artifacts import load_model

            version = self.control.store.get(version_arn)
            if version is None or version.status != ACTIVE or not version.doc.get("_model"):
                raise ResourceNotFoundException(f"Solution version {version_arn} is not ACTIVE.")
            model = load_model(self.control.objects_dir / version.doc["_model"])
            if len(model.user_ids):  # every kernel best_items uses runs in score_user too
                model.score_user(model.training_history(str(model.user_ids[0])))
            IdIndex(["0"], {"0": 0}).positions(["0"])
            return model

        return self._models.get(version_arn, load)

    def warm_campaigns(self) -> list[str]:
        """Load the newest ACTIVE campaigns' deployments (as many as stay cached) before requests ask; their ARNs.

        Each server process loads a campaign on its first request: the model's memory maps, its compiled
        kernels and the item metadata, about a second. A process started with campaigns already deployed
        (a restart, ``--workers N``) does it at startup instead, in the background.
        """
        active = [c for c in self.control.store.list(campaigns.KIND) if c.status == ACTIVE]
        warmed = []
        for campaign in active[: self._deployed.capacity]:
            version = self._docs.get(campaign.doc["solutionVersionArn"])
            if version is None:
                continue
            try:
                self._deployment(version)
            except Exception:  # a campaign that cannot load fails its requests with the reason instead
                log.warning("could not preload campaign %s", campaign.arn, exc_info=True)
            else:
                warmed.append(campaign.arn)
        return warmed

    def _datasets(self, group: str) -> dict[str, Resource]:
        """The group's datasets by type, re-read at most once a second (new imports show up then)."""
        now = time.monotonic()
        hit = self._group_datasets.get(group)
        if hit and hit[0] > now:
            return hit[1]
        found = {d.doc["datasetType"]: d for d in self.control.store.children(group, (datasets.KIND,))}
        self._group_datasets[group] = (now + DOC_TTL_SECONDS, found)
        return found

    def _deployment(self, version: Resource) -> Deployed:
        by_type = self._datasets(version.doc["datasetGroupArn"])
        items, users = by_type.get("ITEMS"), by_type.get("USERS")
        events = self.control.events
        live_items = events.live_version(items.arn) if items else None
        key = (
            version.arn,
            items.doc.get("_snapshotId") if items else None,
            live_items,
            users.arn if users else None,
            users.doc.get("_snapshotId") if users else None,
        )
        model = self.load_model(version.arn)
        recipe = get_recipe(version.doc["recipeArn"])

        def build() -> Deployed:
            items_table = None
            if items:
                records = [{"ITEM_ID": r["id"], **r["properties"]} for r in events.records(items.arn)]
                items_table = upsert_rows(
                    read_snapshot(datasets.snapshot_path(self.control, items)), records, "ITEM_ID"
                )
            return Deployed(
                model,
                recipe.recipe_type if recipe else USER_PERSONALIZATION,
                items_table,
                _users_table(datasets.snapshot_path(self.control, users)) if users else {},
                (lambda user_id: events.record(users.arn, user_id)) if users else None,
            )

        return self._deployed.get(key, build)

    def _campaign(self, params: dict[str, Any]) -> tuple[Resource, Resource, Deployed]:
        if params.get("recommenderArn") and not params.get("campaignArn"):
            raise ResourceNotFoundException(f"recommenderArn {params['recommenderArn']} does not exist.")
        arn = params.get("campaignArn")
        if not arn:
            raise InvalidInputException("campaignArn is required.")
        campaign = self._docs.get(arn)
        if campaign is None or campaign.kind != campaigns.KIND:
            raise ResourceNotFoundException(f"campaignArn {arn} does not exist.")
        if campaign.status != ACTIVE:
            raise InvalidInputException(f"Campaign {arn} is not ACTIVE (status: {campaign.status}).")
        version = self._docs.get(campaign.doc["solutionVersionArn"])
        if version is None:
            raise ResourceNotFoundException(f"The solution version of campaign {arn} no longer exists.")
        return campaign, version, self._deployment(version)

    def _filter(self, deployed: Deployed, group: str, arn: str | None, field: str = "filterArn"):
        if not arn:
            return None
        res = self._docs.get(arn)
        if res is None or res.kind != filters.KIND:
            raise ResourceNotFoundException(f"{field} {arn} does not exist.")
        if res.doc["datasetGroupArn"] != group:
            raise InvalidInputException(f"{field} {arn} belongs to another dataset group than the campaign.")
        expr = self._filters.get(arn, lambda: parse_filter(res.doc["filterExpression"]))
        return deployed.compiled(arn, expr)

    def _history(self, deployed: Deployed, group: str, user_id: str | None, session_id: str | None = None):
        live: list[LiveEvent] = []
        if self.live_events is not None and (user_id or session_id):
            index = deployed.model.item_index
            for item_id, stamp, event_type in self.live_events(group, user_id, session_id):
                idx = index.get(item_id)
                if idx is not None:
                    live.append(LiveEvent(idx, int(stamp), event_type))
        return deployed.history(user_id, live)

    @staticmethod
    def _metadata_columns(campaign: Resource, params: dict[str, Any]) -> list[str]:
        wanted = params.get("metadataColumns") or {}
        if not wanted:
            return []
        if not (campaign.doc.get("campaignConfig") or {}).get("enableMetadataWithRecommendations"):
            raise InvalidInputException(
                "metadataColumns: campaign was created without campaignConfig.enableMetadataWithRecommendations."
            )
        unknown = [k for k in wanted if k.upper() != "ITEMS"]
        if unknown:
            raise InvalidInputException(f"metadataColumns: only the ITEMS dataset is supported, not {unknown[0]}.")
        return [c for cols in wanted.values() for c in cols]

    @staticmethod
    def _context(campaign: Resource, params: dict[str, Any]) -> dict[str, Any]:
        context: dict[str, Any] = dict(params.get("context") or {})
        exploration = (campaign.doc.get("campaignConfig") or {}).get("itemExplorationConfig")
        if exploration:
            context["itemExplorationConfig"] = exploration
        return context

    def user_scores(
        self, version_arn: str, deployed: Deployed, history: UserHistory, context: dict[str, Any], ranked: bool = True
    ) -> ScoredItems:
        """``score_user`` memoised on (solution version, history, context) with its ranking head: the model is
        a pure function of them, so a user asking again (another shelf or filter, a reload) costs a lookup.

        With ``ranked`` (recommendations), a model that ranks its head directly (``best_items``) scores the
        whole catalogue only for a request the head cannot answer (a filter leaving too few of its items).
        """
        model = deployed.model
        caching = self.scores.max_bytes > 0

        def score() -> ScoredItems:
            head = model.best_items(history, context) if ranked and model.has_ranking_head else None
            if head is None:
                return ScoredItems.of(model.score_user(history, context), HEAD_ITEMS if ranked and caching else 0)
            return ScoredItems.from_head(*head, model.n_items, lambda: model.score_user(history, context))

        if not caching:
            return score()
        return self.scores.get((version_arn, ranked, history_digest(history, context)), score)

    # -- operations ----------------------------------------------------------
    def get_recommendations(self, _region: str, params: dict[str, Any]) -> dict[str, Any]:
        campaign, version, deployed = self._campaign(params)
        group = version.doc["datasetGroupArn"]
        k = params.get("numResults", DEFAULT_RESULTS)
        if not 1 <= k <= MAX_RESULTS:
            raise InvalidInputException(f"numResults must be between 1 and {MAX_RESULTS}, got {k}.")
        user_id, item_id = params.get("userId"), params.get("itemId")
        kind = deployed.recipe_type
        if kind == PERSONALIZED_RANKING:
            raise InvalidInputException("This campaign ranks lists: call GetPersonalizedRanking with an inputList.")
        if kind == USER_PERSONALIZATION:
            if not user_id:
                raise InvalidInputException("userId is required for a USER_PERSONALIZATION campaign.")
            if item_id:
                raise InvalidInputException("itemId is not supported for a USER_PERSONALIZATION campaign.")
        if kind == RELATED_ITEMS and not item_id:
            raise InvalidInputException("itemId is required for a RELATED_ITEMS campaign.")
        columns = self._metadata_columns(campaign, params)
        filt = self._filter(deployed, group, params.get("filterArn"))
        history = self._history(deployed, group, user_id)
        user = deployed.user_context(user_id, history)
        context = self._context(campaign, params)
        current = None
        if kind == RELATED_ITEMS:
            current = deployed.model.item_index.get(item_id)
            scores = deployed.model.score_item(current) if current is not None else deployed.model.popularity_scores()
            scores = np.array(scores, dtype=np.float64, copy=True)
            if current is not None:
                scores[current] = -np.inf
        else:
            scores = self.user_scores(version.arn, deployed, history, context)
        try:
            allowed = deployed.mask(filt, params.get("filterValues") or {}, user, current)
            promotion = self._promotion(deployed, group, params, user, current)
        except FilterValueError as exc:
            raise InvalidInputException(f"filterValues: {exc}") from None
        ranked = deployed.recommend(scores, k, allowed, promotion)
        items = []
        for idx, score, promo in ranked:
            entry: dict[str, Any] = {"itemId": deployed.item_ids[idx], "score": score}
            if promo:
                entry["promotionName"] = promo
            if columns:
                entry["metadata"] = deployed.metadata(idx, columns)
            items.append(entry)
        return {"itemList": items, "recommendationId": f"RID-{uuid.uuid4()}"}

    def _promotion(self, deployed: Deployed, group: str, params: dict[str, Any], user, current):
        promos = params.get("promotions") or []
        if not promos:
            return None
        spec = promos[0]
        percent = spec.get("percentPromotedItems", 0)
        if not 1 <= percent <= 100:
            raise InvalidInputException("promotions.1.percentPromotedItems must be between 1 and 100.")
        filt = self._filter(deployed, group, spec.get("filterArn"), "promotions.1.filterArn")
        values = spec.get("filterValues") or {}
        promo = Promotion(spec.get("name") or "promotion", percent, filt, values)
        return promo, deployed.mask(filt, values, user, current)

    def get_personalized_ranking(self, _region: str, params: dict[str, Any]) -> dict[str, Any]:
        campaign, version, deployed = self._campaign(params)
        if deployed.recipe_type != PERSONALIZED_RANKING:
            raise InvalidInputException("GetPersonalizedRanking needs a campaign of a PERSONALIZED_RANKING recipe.")
        input_list = params["inputList"]
        if not 1 <= len(input_list) <= MAX_RESULTS:
            raise InvalidInputException(
                f"inputList must hold between 1 and {MAX_RESULTS} items, got {len(input_list)}."
            )
        group = version.doc["datasetGroupArn"]
        user_id = params.get("userId")
        if not user_id:
            raise InvalidInputException("userId is required for GetPersonalizedRanking.")
        columns = self._metadata_columns(campaign, params)
        filt = self._filter(deployed, group, params.get("filterArn"))
        history = self._history(deployed, group, user_id)
        context = self._context(campaign, params)
        scores = self.user_scores(version.arn, deployed, history, context, ranked=False).scores
        try:
            allowed = deployed.mask(
                filt, params.get("filterValues") or {}, deployed.user_context(user_id, history), None
            )
        except FilterValueError as exc:
            raise InvalidInputException(f"filterValues: {exc}") from None
        ranked = deployed.rank(scores, input_list, allowed)
        out: list[dict[str, Any]] = [
            {"itemId": item_id, "score": score} for item_id, score in zip(ranked.item_ids, ranked.scores, strict=False)
        ]
        out += [{"itemId": item_id} for item_id in ranked.item_ids[len(ranked.scores) :]]
        if columns:
            index = deployed.model.item_index
            for entry in out:
                idx = index.get(entry["itemId"])
                if idx is not None:
                    entry["metadata"] = deployed.metadata(idx, columns)
        return {"personalizedRanking": out, "recommendationId": f"RID-{uuid.uuid4()}"}

    def rest_handlers(self) -> dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]]:
        return {
            "GetRecommendations": self.get_recommendations,
            "GetPersonalizedRanking": self.get_personalized_ranking,
        }


class BatchSession:
    """One solution version resolved once for a batch job; scores line after line on the runtime's path.

    Uses the same history merge (live events included), scoring, filter masks, top-k and
    score rounding as GetRecommendations / GetPersonalizedRanking, so a batch line equals
    the runtime's answer for the same user or item.
    """

    def __init__(
        self,
        service: RuntimeService,
        version: Resource,
        filter_arn: str | None = None,
        exploration: dict[str, Any] | None = None,
    ) -> None:
        self.service = service
        self.group = version.doc["datasetGroupArn"]
        self.deployed = service._deployment(version)
        self.recipe_type = self.deployed.recipe_type
        self.filter = service._filter(self.deployed, self.group, filter_arn)
        self.context: dict[str, Any] = {"itemExplorationConfig": dict(exploration)} if exploration else {}
        self._live: dict[str, list[LiveEvent]] | None = None

    def prefetch_live_events(self) -> None:
        """Index the group's live events by user once (a job-start snapshot) instead of two queries per user.

        Only when the service reads the event store (``stored_live_events``); another source is asked per user.
        """
        if not self.service.reads_event_store:
            return
        index = self.deployed.model.item_index
        by_user: dict[str, list[LiveEvent]] = {}
        anonymous: dict[str, list[LiveEvent]] = {}
        for user_id, session_id, item_id, stamp, event_type in self.service.control.events.item_events(self.group):
            idx = index.get(item_id) if item_id else None
            if idx is None:
                continue
            event = LiveEvent(idx, int(stamp), event_type)
            if user_id is not None:
                by_user.setdefault(user_id, []).append(event)
            else:
                anonymous.setdefault(session_id, []).append(event)
        # a user's own events first, then those of an unclaimed session named like the user (as the runtime reads)
        for session_id, events in anonymous.items():
            by_user[session_id] = by_user.get(session_id, []) + events
        self._live = by_user

    def history(self, user_id: str | None) -> UserHistory:
        """Training history plus live events, as the runtime merges them (from the snapshot when prefetched)."""
        if self._live is None:
            return self.service._history(self.deployed, self.group, user_id)
        return self.deployed.history(user_id, self._live.get(user_id, []) if user_id else [])

    def _mask(self, values: dict[str, str] | None, user: Any, current: int | None) -> np.ndarray | None:
        try:
            return self.deployed.mask(self.filter, values or {}, user, current)
        except FilterValueError as exc:
            raise InvalidInputException(f"filterValues: {exc}") from None

    def recommend(
        self, user_id: str | None, item_id: str | None, k: int, filter_values: dict[str, str] | None = None
    ) -> list[tuple[str, float]]:
        """(itemId, score) best first for a user (USER_PERSONALIZATION) or an item (RELATED_ITEMS)."""
        deployed = self.deployed
        history = self.history(user_id)
        user = deployed.user_context(user_id, history)
        current = None
        if self.recipe_type == RELATED_ITEMS:
            current = deployed.model.item_index.get(item_id)
            scores = deployed.model.score_item(current) if current is not None else deployed.model.popularity_scores()
            scores = np.array(scores, dtype=np.float64, copy=True)
            if current is not None:
                scores[current] = -np.inf
        else:
            scores = np.asarray(deployed.model.score_user(history, dict(self.context)), dtype=np.float64)
        ranked = deployed.recommend(scores, k, self._mask(filter_values, user, current))
        return [(deployed.item_ids[idx], score) for idx, score, _ in ranked]

    def rank(self, user_id: str, item_list: list[str], filter_values: dict[str, str] | None = None) -> RankedIds:
        """The caller's items best first for a user (PERSONALIZED_RANKING), as GetPersonalizedRanking orders them."""
        deployed = self.deployed
        history = self.history(user_id)
        scores = np.asarray(deployed.model.score_user(history, dict(self.context)), dtype=np.float64)
        allowed = self._mask(filter_values, deployed.user_context(user_id, history), None)
        return deployed.rank(scores, item_list, allowed)


def batch_session(
    service: RuntimeService, version_arn: str, filter_arn: str | None = None, exploration: dict[str, Any] | None = None
) -> BatchSession:
    """A ``BatchSession`` for an ACTIVE solution version (ResourceNotFoundException otherwise)."""
    version = service.control.store.get(version_arn)
    if version is None or version.status != ACTIVE:
        raise ResourceNotFoundException(f"Solution version {version_arn} is not ACTIVE.")
    return BatchSession(service, version, filter_arn, exploration)
