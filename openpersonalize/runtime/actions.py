"""GetActionRecommendations: a user's next best actions from a campaign of aws-next-best-action.

The deployed model scores its actions for the user's state (training state plus live item events
and live action interactions); the catalogue is the group's ACTIONS dataset as it is now (snapshot
plus PutActions records), so an action added or expired since training is seen at once. Expired
actions, and actions the user took whose repeat frequency has not elapsed, are never recommended
(``data/actions.py``); an action filter (``ActionID`` with ``Actions`` / ``Interactions``
conditions) is compiled once per catalogue with the item filter compiler.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from ..data.actions import ActionCatalogue, event_kind, rank_actions
from ..data.csv_import import read_snapshot
from ..data.tables import upsert_rows
from ..errors import InvalidInputException, ResourceNotFoundException
from ..filters import (
    BoolOp,
    CompiledFilter,
    Condition,
    FieldRef,
    FilterExpr,
    FilterValueError,
    ItemCatalog,
    UserContext,
    compile_filter,
    parse_filter,
)
from ..recipes.registry import PERSONALIZED_ACTIONS
from .cache import LoadingCache
from .requests import ActionRecommendRequest
from .resources import CampaignView, DatasetView, ResourceLookup, VersionView, usable_filter

DEFAULT_ACTION_RESULTS = 5
MAX_ACTION_RESULTS = 100
MAX_LIVE_ACTIONS = 500

V = TypeVar("V")


class Views(Protocol):
    """Values read at most once a second per key (the runtime's view cache)."""

    def get(self, key: Hashable, read: Callable[[], V]) -> V: ...


class ActionHistory(Protocol):
    """A user's live action interactions (``store.action_events.ActionEventStore``)."""

    def user_history(self, dataset_group_arn: str, user_id: str, limit: int) -> list[tuple[str, float, str]]: ...


class ActionLiveReads(Protocol):
    """The live data action serving reads (``store.events.EventStore`` implements it)."""

    actions: ActionHistory

    def item_history(
        self, dataset_group_arn: str, user_id: str | None, session_id: str | None, limit: int
    ) -> list[tuple[str, float, str]]: ...

    def live_version(self, key: str) -> int: ...

    def records(self, dataset_arn: str) -> list[dict[str, Any]]: ...

    def record(self, dataset_arn: str, record_id: str) -> dict[str, Any] | None: ...


def _as_items(node: Any) -> Any:
    """An action filter's tree as the item filter compiler reads it: Actions.FIELD -> Items.FIELD."""
    if isinstance(node, BoolOp):
        return dataclasses.replace(node, operands=tuple(_as_items(o) for o in node.operands))
    if isinstance(node, Condition):
        values = tuple(_as_items(v) for v in node.values)
        return dataclasses.replace(node, field=_as_items(node.field), values=values)
    if isinstance(node, FieldRef) and node.dataset == "Actions":
        return dataclasses.replace(node, dataset="Items")
    return node


def item_form(expr: FilterExpr) -> FilterExpr:
    """An ``ActionID`` filter rewritten as the equivalent ``ItemID`` filter over the actions catalogue."""
    expressions = tuple(
        dataclasses.replace(
            e,
            target="ItemID",
            dataset="Items" if e.dataset == "Actions" else e.dataset,
            where=_as_items(e.where),
            if_conditions=tuple(_as_items(c) for c in e.if_conditions),
        )
        for e in expr.expressions
    )
    return FilterExpr(expressions, expr.text)


class ActionServing:
    """GetActionRecommendations for one server process (``RuntimeService.recommend_actions``)."""

    def __init__(
        self,
        resources: ResourceLookup,
        live: ActionLiveReads,
        load_model: Callable[[str], Any],
        views: Views,
    ) -> None:
        self.resources, self.live, self.load_model, self.views = resources, live, load_model, views
        self._catalogues: LoadingCache[ActionCatalogue] = LoadingCache(32)
        self._filters: LoadingCache[CompiledFilter] = LoadingCache(256)
        self._users: LoadingCache[dict[str, dict[str, Any]]] = LoadingCache(8)

    def recommend(self, request: ActionRecommendRequest) -> tuple[str, list[dict[str, Any]]]:
        """(campaign ARN, the user's ``{"actionId", "score"}`` best first) for the request."""
        campaign, version = self._campaign(request.campaign_arn)
        k, user_id = request.num_results, request.user_id
        if not 1 <= k <= MAX_ACTION_RESULTS:
            raise InvalidInputException(f"numResults must be between 1 and {MAX_ACTION_RESULTS}, got {k}.")
        if not user_id:
            raise InvalidInputException("userId is required for GetActionRecommendations.")
        model = self.load_model(version.arn)
        group = version.group_arn
        key, catalogue = self.catalogue(group)
        live_items = [item for item, _, _ in self.live.item_history(group, user_id, None, MAX_LIVE_ACTIONS)]
        live_actions = self.live.actions.user_history(group, user_id, MAX_LIVE_ACTIONS)
        features, taken = model.state(user_id, live_items, live_actions)
        propensities = model.propensities(features)
        index = catalogue.positions
        scores = np.zeros(len(catalogue), np.float64)
        for action_id, position in model.action_index.items():
            at = index.get(action_id)
            if at is not None:
                scores[at] = propensities[position]
        allowed = catalogue.allowed(time.time(), [(index[a], t) for a, t in taken if a in index])
        if request.filter_arn:
            filter_values = request.filter_values
            allowed &= self._mask(
                request.filter_arn, group, key, catalogue, live_actions, model, user_id, filter_values
            )
        best = rank_actions(scores, catalogue.values, allowed, k)
        return campaign.arn, [{"actionId": catalogue.ids[i], "score": round(float(scores[i]), 7)} for i in best]

    # -- resolution -------------------------------------------------------------
    def _campaign(self, arn: str | None) -> tuple[CampaignView, VersionView]:
        if not arn:
            raise InvalidInputException("campaignArn is required.")
        campaign = self.views.get(("campaign", arn), lambda: self.resources.campaign(arn))
        if campaign is None:
            raise ResourceNotFoundException(f"campaignArn {arn} does not exist.")
        if not campaign.active:
            raise InvalidInputException(f"Campaign {arn} is not ACTIVE (status: {campaign.status}).")
        version = self.views.get(
            ("version", campaign.version_arn), lambda: self.resources.version(campaign.version_arn)
        )
        if version is None:
            raise ResourceNotFoundException(f"The solution version of campaign {arn} no longer exists.")
        if version.recipe_type != PERSONALIZED_ACTIONS:
            raise InvalidInputException(
                f"Campaign {arn} does not recommend actions: GetActionRecommendations needs a campaign of a "
                f"PERSONALIZED_ACTIONS recipe (aws-next-best-action); use GetRecommendations."
            )
        return campaign, version

    def catalogue(self, group_arn: str) -> tuple[Hashable, ActionCatalogue]:
        """The group's actions as they are now, rebuilt when the ACTIONS snapshot or its live records change."""
        view = self.views.get(("datasets", group_arn), lambda: self.resources.datasets(group_arn)).actions
        if view is None:
            raise InvalidInputException(f"Dataset group {group_arn} has no ACTIONS dataset to recommend from.")
        key = (view.arn, view.snapshot_id, self.live.live_version(view.arn))
        return key, self._catalogues.get(key, lambda: self._build(view))

    def _build(self, view: DatasetView) -> ActionCatalogue:
        local: Path | None = self.resources.local_copy(view.snapshot_key)
        records = [{"ACTION_ID": r["id"], **r["properties"]} for r in self.live.records(view.arn)]
        return ActionCatalogue.of(upsert_rows(read_snapshot(local), records, "ACTION_ID"))

    def _mask(
        self,
        arn: str,
        group_arn: str,
        key: Hashable,
        catalogue: ActionCatalogue,
        live_actions: list[tuple[str, float, str]],
        model: Any,
        user_id: str,
        values: Mapping[str, str],
    ) -> np.ndarray:
        view = usable_filter(self.views.get(("filter", arn), lambda: self.resources.filter(arn)), arn, group_arn)

        def compiled() -> CompiledFilter:
            expr = parse_filter(view.expression)
            if expr.target != "ActionID":
                raise InvalidInputException(
                    f"filterArn {arn} filters {expr.target}; action recommendations need ActionID."
                )
            table = catalogue.table.rename_columns(
                ["ITEM_ID" if c == "ACTION_ID" else c for c in catalogue.table.column_names]
            )
            return compile_filter(item_form(expr), ItemCatalog(table, catalogue.ids))

        compiled_filter = self._filters.get((arn, key), compiled)
        index = catalogue.positions
        events = [(index[a], kind) for a, _, kind in self._interactions(model, user_id, live_actions) if a in index]
        user = UserContext(
            self._user_metadata(group_arn, user_id) if compiled_filter.uses_current_user else None,
            np.asarray([i for i, _ in events], np.int64),
            np.asarray([kind for _, kind in events], dtype=object),
        )
        try:
            return compiled_filter.mask(user, values)
        except FilterValueError as exc:
            raise InvalidInputException(f"filterValues: {exc}") from None

    def _user_metadata(self, group_arn: str, user_id: str) -> Mapping[str, Any] | None:
        """The user's Users row (a PutUsers record first) for a filter's ``IF CurrentUser`` conditions."""
        users = self.views.get(("datasets", group_arn), lambda: self.resources.datasets(group_arn)).users
        if users is None:
            return None
        live = self.live.record(users.arn, user_id)
        if live is not None:
            return live

        def rows() -> dict[str, dict[str, Any]]:
            table = read_snapshot(self.resources.local_copy(users.snapshot_key))
            return {str(row.pop("USER_ID")): row for row in table.to_pylist()} if table is not None else {}

        return self._users.get((users.arn, users.snapshot_id), rows).get(user_id)

    @staticmethod
    def _interactions(
        model: Any, user_id: str, live_actions: list[tuple[str, float, str]]
    ) -> list[tuple[str, float, str]]:
        """The user's action interactions, trained and live, with event types as filters name them (TAKEN,
        NOT_TAKEN, VIEWED)."""
        trained = model.action_events(user_id)
        return trained + [(a, t, kind) for a, t, e in live_actions if (kind := event_kind(e))]
