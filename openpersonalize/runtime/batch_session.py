"""One solution version resolved once for a batch job, scoring line after line through the runtime's methods."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..data.training_data import UserHistory
from ..filters import CompiledFilter
from .deployed import Deployed, LiveEvent, RankedIds
from .service import RuntimeService, Target


class BatchSession:
    """Uses the same history merge (live events included), scoring, filter masks, top-k and score rounding as
    GetRecommendations / GetPersonalizedRanking, so a batch line equals the runtime's answer for the same user
    or item.

    ``influence`` is the job's rankingInfluence, leaning the scores as a campaign's does.

    With ``live_snapshot``, the group's live events are read once, at the start (one bulk read instead of two
    queries per user), and every line sees that snapshot; without it each user's events are read as a request
    reads them.
    """

    def __init__(
        self,
        service: RuntimeService,
        version_arn: str,
        filter_arn: str | None = None,
        exploration: Mapping[str, Any] | None = None,
        live_snapshot: bool = True,
        influence: Mapping[str, float] | None = None,
    ) -> None:
        self.service = service
        self.target: Target = service.target(version_arn)
        self.deployed: Deployed = self.target.deployed
        self.recipe_type = self.target.recipe_type
        self.filter: CompiledFilter | None = service.item_filter(self.target, filter_arn)
        self.context: dict[str, Any] = {"itemExplorationConfig": dict(exploration)} if exploration else {}
        self.influence = influence
        self._live = self._snapshot() if live_snapshot else None

    def _snapshot(self) -> dict[str, list[LiveEvent]]:
        """Every user's live events as the runtime would read them (a user's own, then an unclaimed session
        named like the user)."""
        index = self.deployed.model.item_index
        by_user: dict[str, list[LiveEvent]] = {}
        anonymous: dict[str, list[LiveEvent]] = {}
        for user_id, session_id, item_id, stamp, event_type in self.service.live.item_events(self.target.group_arn):
            idx = index.get(item_id) if item_id else None
            if idx is None:
                continue
            event = LiveEvent(idx, int(stamp), event_type)
            if user_id is not None:
                by_user.setdefault(user_id, []).append(event)
            else:
                anonymous.setdefault(session_id, []).append(event)
        for session_id, events in anonymous.items():
            by_user[session_id] = by_user.get(session_id, []) + events
        return by_user

    def history(self, user_id: str | None) -> UserHistory:
        """Training history plus live events, as the runtime merges them (from the snapshot when taken)."""
        if self._live is None:
            return self.service.history(self.target, user_id)
        return self.deployed.history(user_id, self._live.get(user_id, []) if user_id else [])

    def mask(self, values: Mapping[str, str] | None, user_id: str | None, history: UserHistory) -> Any:
        """The session filter's allowed items for a user (None without a filter); bad values: InvalidInputException."""
        if self.filter is None:
            return None
        return self.deployed.mask(self.filter, values or {}, self.deployed.user_context(user_id, history), None)

    def recommend(
        self, user_id: str | None, item_id: str | None, k: int, filter_values: Mapping[str, str] | None = None
    ) -> list[tuple[str, float]]:
        """(itemId, score) best first for a user (USER_PERSONALIZATION) or an item (RELATED_ITEMS)."""
        ranked = self.service.top_items(
            self.target,
            self.history(user_id),
            user_id,
            item_id,
            k,
            self.filter,
            filter_values or {},
            dict(self.context),
            cache=False,
            influence=self.influence,
        )
        item_ids = self.deployed.item_ids
        return [(item_ids[idx], score) for idx, score, _ in ranked]

    def rank(self, user_id: str, item_list: list[str], filter_values: Mapping[str, str] | None = None) -> RankedIds:
        """The caller's items best first for a user (PERSONALIZED_RANKING), as GetPersonalizedRanking orders them."""
        return self.service.ranked_items(
            self.target,
            self.history(user_id),
            user_id,
            item_list,
            self.filter,
            filter_values or {},
            dict(self.context),
            cache=False,
            influence=self.influence,
        )
