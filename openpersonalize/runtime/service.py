"""The runtime: GetRecommendations, GetPersonalizedRanking and GetActionRecommendations on deployed models.

One ``RuntimeService`` per server process. It resolves a campaign through the lifecycle's
``ResourceLookup`` (views cached for a second, so a campaign switch or a new import is seen
within one), loads its ``Deployed`` model, merges the user's live events from the ``EventStore``
into the training history, scores, filters and ranks. Batch jobs score through the same methods
(``BatchSession``), so a batch line equals the runtime's answer.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..data.csv_import import read_snapshot
from ..data.tables import upsert_rows
from ..data.training_data import UserHistory
from ..errors import InvalidInputException, ResourceNotFoundException
from ..filters import CompiledFilter, Expression, FilterExpr, parse_filter
from ..recipes.artifacts import load_model
from ..recipes.protocol import Model
from ..recipes.registry import PERSONALIZED_ACTIONS, PERSONALIZED_RANKING, RELATED_ITEMS, USER_PERSONALIZATION
from .actions import ActionServing
from .cache import ArrayCache, LoadingCache, Recent
from .deployed import Deployed, LiveEvent, Promotion, RankedIds, history_digest
from .id_index import IdIndex
from .leaning import leaned
from .requests import (
    MAX_RESULTS,
    ActionRecommendations,
    ActionRecommendRequest,
    PromotionRequest,
    RankedItem,
    Ranking,
    RankRequest,
    Recommendations,
    RecommendedItem,
    RecommendRequest,
)
from .resources import CampaignView, DatasetView, GroupDatasets, ResourceLookup, VersionView, usable_filter
from .scored import HEAD_ITEMS, ScoredItems

log = logging.getLogger(__name__)

VIEW_TTL_SECONDS = 1.0
DEFAULT_SCORE_CACHE_BYTES = 128 << 20
# The newest live events of a user (and of their unclaimed session) a request reads, so that what a
# request costs does not grow with the history: Personalize's filters consider up to 100 of a user's
# most recent interactions per event type, and SIMS counts a user's newest 500 (recipes/sims.py).
MAX_LIVE_EVENTS = 500
# Memory-mapped models cost little while open; a deployment also holds its catalogue's metadata as
# lists (tens of MB for a large catalogue), so fewer of those stay.
MODEL_CACHE_SIZE = 64
DEPLOYED_CACHE_SIZE = 32
# RID-<source key>-<64 random bits>, 37 characters (PutEvents takes at most 40): it names the campaign or
# recommender that answered.
RECOMMENDATION_ID = re.compile(r"RID-([0-9a-f]{16})-[0-9a-f]{16}")


class LiveReads(Protocol):
    """The live data the runtime reads (``store.events.EventStore`` implements it)."""

    def item_history(
        self, dataset_group_arn: str, user_id: str | None, session_id: str | None, limit: int
    ) -> list[tuple[str, float, str]]: ...

    def item_events(self, dataset_group_arn: str) -> Iterable[tuple[str | None, str, str, float, str]]: ...

    def live_version(self, key: str) -> int: ...

    def serving_reads(
        self, dataset_group_arn: str, user_id: str | None, limit: int, version_key: str | None
    ) -> tuple[int, list[tuple[str, float, str]]]: ...

    def records(self, dataset_arn: str) -> list[dict[str, Any]]: ...

    def record(self, dataset_arn: str, record_id: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Target:
    """A solution version resolved for scoring: its deployed model and its dataset group."""

    version_arn: str
    group_arn: str
    deployed: Deployed

    @property
    def recipe_type(self) -> str:
        return self.deployed.recipe_type


def _known_events(target: Target, events: Sequence[tuple[str, float, str]]) -> list[LiveEvent]:
    """Live events (item id, timestamp, event type) of the items the target's model knows, as ``LiveEvent``s."""
    log.debug("read %d live events for a request", len(events))
    index = target.deployed.model.item_index
    return [
        LiveEvent(idx, int(stamp), event_type)
        for item_id, stamp, event_type in events
        if (idx := index.get(item_id)) is not None
    ]


def _users_table(resources: ResourceLookup, snapshot: DatasetView) -> dict[str, dict[str, Any]]:
    table = read_snapshot(resources.local_copy(snapshot.snapshot_key))
    if table is None:
        return {}
    return {str(row.pop("USER_ID")): row for row in table.to_pylist()}


def _served_by(campaign: CampaignView, kind: str) -> str:
    """What answers a request, as its messages name it: a recipe type's campaign, or a recommender's use case."""
    return f"the use case of recommender {campaign.arn}" if campaign.use_case else f"a {kind} campaign"


def _metadata_columns(campaign: CampaignView, wanted: Mapping[str, Sequence[str]]) -> list[str]:
    if not wanted:
        return []
    if not campaign.metadata_enabled:
        made = (
            "recommender was created without recommenderConfig"
            if campaign.use_case
            else "campaign was created without campaignConfig"
        )
        raise InvalidInputException(f"metadataColumns: {made}.enableMetadataWithRecommendations.")
    unknown = [k for k in wanted if k.upper() != "ITEMS"]
    if unknown:
        raise InvalidInputException(f"metadataColumns: only the ITEMS dataset is supported, not {unknown[0]}.")
    return [c for cols in wanted.values() for c in cols]


def _context(campaign: CampaignView, context: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = dict(context)
    if campaign.exploration:
        out["itemExplorationConfig"] = campaign.exploration
    return out


def _reason(promotion: str | None, explored: bool) -> tuple[str, ...]:
    """Personalize's ``reason`` of a recommended item: placed by a promotion, or lifted by exploration."""
    if promotion:
        return ("Promoted item",)
    return ("Exploration",) if explored else ()


class RecommendationSources(Protocol):
    """Where a recommendationId's source is remembered (``store.attribution.AttributionStore`` implements it)."""

    def remember_source(self, key: str, source_arn: str) -> None: ...


def source_key(source_arn: str) -> str:
    """The key a campaign's or recommender's recommendationIds carry: 16 hex digits of the ARN's SHA-256."""
    return hashlib.sha256(source_arn.encode()).hexdigest()[:16]


def recommendation_key(recommendation_id: str) -> str | None:
    """The source key inside a recommendationId this server gave (None for any other string)."""
    found = RECOMMENDATION_ID.fullmatch(recommendation_id)
    return found.group(1) if found else None


class RuntimeService:
    """Serves the runtime API from deployed models; one per server process."""

    def __init__(
        self,
        resources: ResourceLookup,
        live: LiveReads,
        score_cache_bytes: int = DEFAULT_SCORE_CACHE_BYTES,
        sources: RecommendationSources | None = None,
    ) -> None:
        self.resources = resources
        self.live = live
        self.sources = sources
        self._source_keys: LoadingCache[str] = LoadingCache(1024)  # ARNs whose key is remembered
        self.scores: ArrayCache[ScoredItems] = ArrayCache(score_cache_bytes)
        self._views: Recent[Any] = Recent(VIEW_TTL_SECONDS)
        self.actions = ActionServing(resources, live, self.load_model, self._views)
        self._models: LoadingCache[Model] = LoadingCache(MODEL_CACHE_SIZE)
        self._deployed: LoadingCache[Deployed] = LoadingCache(DEPLOYED_CACHE_SIZE)
        self._filters: LoadingCache[FilterExpr] = LoadingCache(256)
        self._deployed_keys: dict[str, Hashable] = {}  # solution version -> key of its newest deployment
        self._lock = threading.Lock()

    # -- the entry points ------------------------------------------------------
    def recommend(self, request: RecommendRequest) -> Recommendations:
        """GetRecommendations: a user's or an item's best items from a campaign."""
        campaign, version = self._campaign(request.campaign_arn, request.recommender_arn)
        target, history = self._serving(version, request.user_id)
        recommendation_id = self.recommendation_id(request.recommender_arn or campaign.arn)
        deployed, kind = target.deployed, target.recipe_type
        k = request.num_results
        if not 1 <= k <= MAX_RESULTS:
            raise InvalidInputException(f"numResults must be between 1 and {MAX_RESULTS}, got {k}.")
        user_id, item_id = request.user_id, request.item_id
        if kind == PERSONALIZED_RANKING:
            raise InvalidInputException("This campaign ranks lists: call GetPersonalizedRanking with an inputList.")
        use_case = campaign.use_case
        if kind == USER_PERSONALIZATION:
            if not user_id and use_case is None:
                raise InvalidInputException("userId is required for a USER_PERSONALIZATION campaign.")
            if item_id:
                raise InvalidInputException(f"itemId is not supported for {_served_by(campaign, kind)}.")
        if kind == RELATED_ITEMS and not item_id:
            raise InvalidInputException(f"itemId is required for {_served_by(campaign, kind)}.")
        if use_case is not None and use_case.user_id == "required" and not user_id:
            raise InvalidInputException(f"userId is required by the use case of recommender {campaign.arn}.")
        columns = _metadata_columns(campaign, request.metadata_columns)
        excluded = use_case.excluded_event_type if use_case is not None else None
        filt = self.item_filter(target, request.filter_arn, excluded_event_type=excluded)
        context = _context(campaign, request.context)
        promotion = request.promotions[0] if request.promotions else None
        ranked = self.top_items(
            target,
            history,
            user_id,
            item_id,
            k,
            filt,
            request.filter_values,
            context,
            promotion=promotion,
            influence=campaign.ranking_influence,
        )
        item_ids = deployed.item_ids
        explored = deployed.model.exploration_items(context) if kind == USER_PERSONALIZATION else None
        items = [
            RecommendedItem(
                item_ids[idx],
                score,
                promo,
                deployed.metadata(idx, columns) if columns else None,
                _reason(promo, explored is not None and bool(explored[idx])),
            )
            for idx, score, promo in ranked
        ]
        return Recommendations(items, recommendation_id)

    def rank(self, request: RankRequest) -> Ranking:
        """GetPersonalizedRanking: the caller's items ordered for a user."""
        campaign, version = self._campaign(request.campaign_arn, None)
        if version.recipe_type != PERSONALIZED_RANKING:
            raise InvalidInputException("GetPersonalizedRanking needs a campaign of a PERSONALIZED_RANKING recipe.")
        input_list = request.input_list
        if not 1 <= len(input_list) <= MAX_RESULTS:
            raise InvalidInputException(
                f"inputList must hold between 1 and {MAX_RESULTS} items, got {len(input_list)}."
            )
        user_id = request.user_id
        if not user_id:
            raise InvalidInputException("userId is required for GetPersonalizedRanking.")
        target, history = self._serving(version, user_id)
        recommendation_id = self.recommendation_id(campaign.arn)
        deployed = target.deployed
        columns = _metadata_columns(campaign, request.metadata_columns)
        filt = self.item_filter(target, request.filter_arn)
        context = _context(campaign, request.context)
        influence = campaign.ranking_influence
        ranked = self.ranked_items(
            target, history, user_id, input_list, filt, request.filter_values, context, influence=influence
        )
        scores = ranked.padded_scores()
        if not columns:
            items = [RankedItem(i, s) for i, s in zip(ranked.item_ids, scores, strict=True)]
        else:
            index = deployed.model.item_index
            items = [
                RankedItem(i, s, None if (idx := index.get(i)) is None else deployed.metadata(idx, columns))
                for i, s in zip(ranked.item_ids, scores, strict=True)
            ]
        return Ranking(items, recommendation_id)

    def recommend_actions(self, request: ActionRecommendRequest) -> ActionRecommendations:
        """GetActionRecommendations: a user's next best actions from a campaign of aws-next-best-action."""
        campaign_arn, actions = self.actions.recommend(request)
        return ActionRecommendations(actions, self.recommendation_id(campaign_arn))

    def recommendation_id(self, source_arn: str) -> str:
        """A new recommendationId naming ``source_arn``, whose key is remembered in SQL (once per process and
        source, never on the event loop) so that any node can attribute events carrying it."""
        sources = self.sources

        def remember() -> str:
            key = source_key(source_arn)
            if sources is not None:
                sources.remember_source(key, source_arn)
            return key

        return f"RID-{self._source_keys.get(source_arn, remember)}-{secrets.token_hex(8)}"

    # -- what requests and batch jobs share --------------------------------------
    def target(self, version_arn: str) -> Target:
        """An ACTIVE solution version resolved for scoring (ResourceNotFoundException otherwise); read fresh."""
        version = self.resources.version(version_arn)
        if version is None or not version.active:
            raise ResourceNotFoundException(f"Solution version {version_arn} is not ACTIVE.")
        return self._target(version)

    def item_filter(
        self, target: Target, arn: str | None, field: str = "filterArn", excluded_event_type: str | None = None
    ) -> CompiledFilter | None:
        """The filter ``arn`` compiled for the target's items (None without one); it must be an ItemID filter of the
        same group, and only a related-items recipe may apply a ``CurrentItem`` filter (Personalize's guidelines).

        With ``excluded_event_type`` (a recommender's use case), items the user has interactions of that
        type with are excluded first, as by ``EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (type)``.
        """
        expressions: tuple[Expression, ...] = ()
        if excluded_event_type:
            rule = f'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("{excluded_event_type}")'
            expressions = self._filters.get(rule, lambda: parse_filter(rule)).expressions
        if not arn:
            return target.deployed.compiled(rule, FilterExpr(expressions)) if expressions else None
        view = usable_filter(
            self._views.get(("filter", arn), lambda: self.resources.filter(arn)), arn, target.group_arn, field
        )
        expr = self._filters.get(arn, lambda: parse_filter(view.expression))
        if expr.target != "ItemID":
            raise InvalidInputException(
                f"{field} {arn} is a filter of {expr.target}; item recommendations need an ItemID filter."
            )
        if expr.uses_current_item and target.recipe_type != RELATED_ITEMS:
            raise InvalidInputException(
                f"{field} {arn} uses CurrentItem, which only a related-items recipe (such as aws-similar-items) "
                f"can apply; this solution's recipe type is {target.recipe_type}."
            )
        if expressions:
            return target.deployed.compiled(f"{rule} | {arn}", FilterExpr(expressions + expr.expressions))
        return target.deployed.compiled(arn, expr)

    def live_history(self, target: Target, user_id: str | None, session_id: str | None = None) -> list[LiveEvent]:
        """The user's (and their unclaimed session's) newest ``MAX_LIVE_EVENTS`` live events the model knows
        the items of, oldest first: what a request reads is bounded however long the history grows.

        Anonymous users ask for recommendations with their sessionId as userId, as in Personalize,
        so events of that session which no user has claimed yet count too.
        """
        if not (user_id or session_id):
            return []
        return _known_events(target, self.live.item_history(target.group_arn, user_id, session_id, MAX_LIVE_EVENTS))

    def history(self, target: Target, user_id: str | None, session_id: str | None = None) -> UserHistory:
        """Training history plus live events (a PutEvents 200 is visible at once)."""
        return target.deployed.history(user_id, self.live_history(target, user_id, session_id))

    def user_scores(
        self, target: Target, history: UserHistory, context: dict[str, Any], ranked: bool = True, cache: bool = True
    ) -> ScoredItems:
        """``score_user`` with its ranking head, memoised on (solution version, history, context) when ``cache``:
        the model is a pure function of them, so a user asking again (another shelf or filter, a reload) costs
        a lookup.

        With ``ranked`` (recommendations), a model with a ranking head (``has_ranking_head``) scores the whole
        catalogue only for a request the head cannot answer (a filter leaving too few of its items).
        """
        model = target.deployed.model
        caching = cache and self.scores.max_bytes > 0

        def score() -> ScoredItems:
            head = model.best_items(history, context) if ranked and model.has_ranking_head else None
            if head is None:
                return ScoredItems.of(model.score_user(history, context), HEAD_ITEMS if ranked and caching else 0)
            return ScoredItems.from_head(*head, model.n_items, lambda: model.score_user(history, context))

        if not caching:
            return score()
        return self.scores.get((target.version_arn, ranked, history_digest(history, context)), score)

    def top_items(
        self,
        target: Target,
        history: UserHistory,
        user_id: str | None,
        item_id: str | None,
        k: int,
        filt: CompiledFilter | None,
        filter_values: Mapping[str, str],
        context: dict[str, Any],
        promotion: PromotionRequest | None = None,
        cache: bool = True,
        influence: Mapping[str, float] | None = None,
    ) -> list[tuple[int, float, str | None]]:
        """The ``k`` best allowed items for a user (USER_PERSONALIZATION) or an item (RELATED_ITEMS), with
        promoted ones mixed in: (item index, rounded score, promotion name). Scores lean towards the model's
        optimization objective and the campaign's rankingInfluence (``influence``)."""
        deployed = target.deployed
        current = None
        lean = deployed.lean(influence)
        if target.recipe_type == RELATED_ITEMS:
            scores: np.ndarray | ScoredItems
            scores, current = deployed.related_scores(item_id)
        else:
            scores = self.user_scores(target, history, context, ranked=lean is None, cache=cache)
        if lean is not None:
            scores = leaned(scores.scores if isinstance(scores, ScoredItems) else scores, lean)
        allowed = promoted = None
        if filt is not None or promotion is not None:  # the user's metadata may be a read of live records
            user = deployed.user_context(user_id, history)
            allowed = deployed.mask(filt, filter_values, user, current)
            promoted = self._promotion(target, promotion, user, current) if promotion is not None else None
        return deployed.recommend(scores, k, allowed, promoted)

    def ranked_items(
        self,
        target: Target,
        history: UserHistory,
        user_id: str,
        item_ids: Sequence[str],
        filt: CompiledFilter | None,
        filter_values: Mapping[str, str],
        context: dict[str, Any],
        cache: bool = True,
        influence: Mapping[str, float] | None = None,
    ) -> RankedIds:
        """The caller's items best first for a user (PERSONALIZED_RANKING), leaning as ``top_items`` does."""
        deployed = target.deployed
        scores = self.user_scores(target, history, context, ranked=False, cache=cache).scores
        lean = deployed.lean(influence)
        if lean is not None:
            scores = leaned(scores, lean)
        user = deployed.user_context(user_id, history) if filt is not None else None
        allowed = None if user is None else deployed.mask(filt, filter_values, user, None)
        return deployed.rank(scores, item_ids, allowed)

    # -- loading ---------------------------------------------------------------
    def load_model(self, version_arn: str) -> Model:
        """The solution version's model, memory-mapped, cached and warmed (the deploy job calls this).

        Warming scores one training user and looks an id up: the compiled kernels of the model and of
        list ranking load from their on-disk cache (or compile, once per install) at deploy time rather
        than on a request.
        """

        def load() -> Model:
            version = self.resources.version(version_arn)
            if version is None or not version.active or version.model_key is None:
                raise ResourceNotFoundException(f"Solution version {version_arn} is not ACTIVE.")
            log.info("loading the model of %s in thread %s", version_arn, threading.current_thread().name)
            model = load_model(self.resources.local_copy(version.model_key))
            if len(model.user_ids):  # the compiled kernels of a full row and of a ranking head
                history = model.training_history(str(model.user_ids[0]))
                model.score_user(history)
                model.best_items(history)
            IdIndex(["0"], {"0": 0}).positions(["0"])
            return model

        return self._models.get(version_arn, load)

    def warm_campaigns(self) -> list[str]:
        """Load the newest ACTIVE campaigns' deployments (as many as stay cached) before requests ask; their ARNs.

        Each server process loads a campaign on its first request: the model's memory maps, its compiled
        kernels and the item metadata, about a second. A process started with campaigns already deployed
        (a restart, ``--workers N``) does it at startup instead, in the background.
        """
        warmed = []
        for campaign in self.resources.active_campaigns()[: self._deployed.capacity]:
            version = self._version(campaign.version_arn)
            if version is None:
                continue
            try:
                self.load_model(version.arn) if version.recipe_type == PERSONALIZED_ACTIONS else self._target(version)
            except Exception:  # a campaign that cannot load fails its requests with the reason instead
                log.warning("could not preload campaign %s", campaign.arn, exc_info=True)
            else:
                warmed.append(campaign.arn)
        return warmed

    # -- resolution --------------------------------------------------------------
    def _version(self, arn: str) -> VersionView | None:
        return self._views.get(("version", arn), lambda: self.resources.version(arn))

    def _campaign(self, arn: str | None, recommender_arn: str | None) -> tuple[CampaignView, VersionView]:
        """The campaign or recommender a request names, ACTIVE, and the solution version it serves."""
        if arn and recommender_arn:
            raise InvalidInputException("Give campaignArn or recommenderArn, not both.")
        if recommender_arn:
            arn, label, member, lookup = recommender_arn, "Recommender", "recommenderArn", self.resources.recommender
        elif arn:
            label, member, lookup = "Campaign", "campaignArn", self.resources.campaign
        else:
            raise InvalidInputException("campaignArn or recommenderArn is required.")
        name = arn
        campaign = self._views.get((label, name), lambda: lookup(name))
        if campaign is None:
            raise ResourceNotFoundException(f"{member} {arn} does not exist.")
        if not campaign.active:
            raise InvalidInputException(f"{label} {arn} is not ACTIVE (status: {campaign.status}).")
        version = self._version(campaign.version_arn)
        if version is None:
            raise ResourceNotFoundException(f"The model of {label.lower()} {arn} no longer exists.")
        if version.recipe_type == PERSONALIZED_ACTIONS:
            raise InvalidInputException(f"{label} {arn} recommends actions: call GetActionRecommendations.")
        return campaign, version

    def _serving(self, version: VersionView, user_id: str | None) -> tuple[Target, UserHistory]:
        """A request's deployment and the user's history (training plus live events), from one read of live
        data: the user's newest events and the ITEMS live-records version come in one round trip."""
        group = self._group(version)
        items_version, events = self.live.serving_reads(
            version.group_arn, user_id, MAX_LIVE_EVENTS, group.items.arn if group.items else None
        )
        target = self._deployment(version, group, items_version)
        return target, target.deployed.history(user_id, _known_events(target, events))

    def _group(self, version: VersionView) -> GroupDatasets:
        return self._views.get(("datasets", version.group_arn), lambda: self.resources.datasets(version.group_arn))

    def _target(self, version: VersionView) -> Target:
        """The version's deployment, rebuilt when its ITEMS/USERS snapshot or live ITEMS records change."""
        group = self._group(version)
        return self._deployment(version, group, self.live.live_version(group.items.arn) if group.items else 0)

    def _deployment(self, version: VersionView, group: GroupDatasets, items_version: int) -> Target:
        """The version's deployment for its group's datasets at ``items_version`` of the live ITEMS records."""
        items, users = group.items, group.users
        live = self.live
        key = (
            version.arn,
            items.snapshot_id if items else None,
            items_version if items else None,
            users.arn if users else None,
            users.snapshot_id if users else None,
        )
        model = self.load_model(version.arn)

        def build() -> Deployed:
            log.info("building the deployment of %s in thread %s", version.arn, threading.current_thread().name)
            items_table = None
            if items:
                records = [{"ITEM_ID": r["id"], **r["properties"]} for r in live.records(items.arn)]
                snapshot = read_snapshot(self.resources.local_copy(items.snapshot_key))
                items_table = upsert_rows(snapshot, records, "ITEM_ID")
            return Deployed(
                model,
                version.recipe_type,
                items_table,
                _users_table(self.resources, users) if users else {},
                (lambda user_id: live.record(users.arn, user_id)) if users else None,
            )

        deployed = self._deployed.get(key, build)
        with self._lock:
            stale = self._deployed_keys.get(version.arn)
            self._deployed_keys[version.arn] = key
        if stale is not None and stale != key:  # a PutItems made it stale: it must not evict other campaigns
            self._deployed.discard(stale)
        return Target(version.arn, version.group_arn, deployed)

    def _promotion(
        self, target: Target, spec: PromotionRequest, user: Any, current: int | None
    ) -> tuple[Promotion, np.ndarray | None]:
        if not 1 <= spec.percent <= 100:
            raise InvalidInputException("promotions.1.percentPromotedItems must be between 1 and 100.")
        filt = self.item_filter(target, spec.filter_arn, "promotions.1.filterArn")
        promo = Promotion(spec.name or "promotion", spec.percent, filt, spec.filter_values)
        return promo, target.deployed.mask(filt, spec.filter_values, user, current)
