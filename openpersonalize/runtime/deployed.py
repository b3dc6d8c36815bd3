"""A deployed model: the loaded artifact plus the metadata and filters scoring needs.

Built once per (solution version, items/users snapshot) and shared by every request;
the per-request work is a history merge, one scoring call, a cached mask and a top-k.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import orjson
import pyarrow as pa

from ..data.training_data import UserHistory
from ..errors import InvalidInputException
from ..filters import CompiledFilter, FilterExpr, FilterValueError, ItemCatalog, UserContext, compile_filter
from ..recipes.objective import OBJECTIVE_LEAN
from .cache import LoadingCache
from .id_index import IdIndex
from .leaning import item_lean
from .scored import ScoredItems
from .scoring import Ranked, mix_promotions, public_scores, rank_list


def history_digest(history: UserHistory, context: Mapping[str, Any] | None) -> bytes:
    """A 128-bit digest of everything ``score_user`` reads: the history (items, times, event types, training
    user) and the context."""
    h = hashlib.blake2b(digest_size=16)
    h.update(history.user.to_bytes(8, "little", signed=True))
    h.update(np.ascontiguousarray(history.items, np.int64).tobytes())
    if history.timestamps is not None:
        h.update(b"\x00t")
        h.update(np.ascontiguousarray(history.timestamps, np.int64).tobytes())
    if history.event_types:
        h.update(b"\x00e")
        h.update("\x1f".join(map(str, history.event_types)).encode())
    if context:
        h.update(b"\x00c")
        h.update(orjson.dumps(context, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS))
    return h.digest()


@dataclass(frozen=True)
class LiveEvent:
    """An interaction received after training (PutEvents), already mapped to an item index."""

    item_index: int
    timestamp: int
    event_type: str


class RankedIds(NamedTuple):
    """Item ids best first with their rounded scores: ``scores[i]`` is ``item_ids[i]``'s, and the ids past the
    scores have none (the model does not know them, or gives them no finite score)."""

    item_ids: list[str]
    scores: list[float]

    def padded_scores(self) -> list[float | None]:
        """One score per item id, None for the unscored ones (a batch line's ``scores``)."""
        return self.scores + [None] * (len(self.item_ids) - len(self.scores))


@dataclass(frozen=True)
class Promotion:
    name: str
    percent: int
    filter: CompiledFilter | None
    values: Mapping[str, str]


@dataclass
class Deployed:
    """Model + item metadata + user metadata for one campaign's current version."""

    model: Any
    recipe_type: str
    items: pa.Table | None
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    live_user: Callable[[str], dict[str, Any] | None] | None = None  # PutUsers records, read per request

    def __post_init__(self) -> None:
        self.item_ids: list[str] = [str(x) for x in self.model.item_ids.tolist()]
        self.id_index = IdIndex(self.item_ids, self.model.item_index)
        self.catalog = ItemCatalog(self.items, self.item_ids)
        self._filters: LoadingCache[CompiledFilter] = LoadingCache(64)
        self._leans: LoadingCache[np.ndarray | None] = LoadingCache(16)
        self.item_columns = self._align_metadata()

    def _align_metadata(self) -> dict[str, list[Any]]:
        """Item metadata columns as lists in model item order (None where unknown)."""
        if self.items is None:
            return {}
        ids = self.items.column("ITEM_ID").to_pylist()
        position = {item_id: row for row, item_id in enumerate(ids)}
        rows = [position.get(item_id) for item_id in self.item_ids]
        out: dict[str, list[Any]] = {}
        for name in self.items.column_names:
            if name == "ITEM_ID":
                continue
            values = self.items.column(name).to_pylist()
            out[name.upper()] = [None if r is None else values[r] for r in rows]
        return out

    def compiled(self, key: str, expr: FilterExpr) -> CompiledFilter:
        return self._filters.get(key, lambda: compile_filter(expr, self.catalog))

    def lean(self, influence: Mapping[str, float] | None) -> np.ndarray | None:
        """What the model's optimization objective and a campaign's rankingInfluence add to scores (None: nothing)."""

        def build() -> np.ndarray | None:
            arrays = self.model.arrays
            objective = arrays.get(OBJECTIVE_LEAN)
            return item_lean(objective, arrays["item_counts"], arrays["item_created"], influence or {})

        return self._leans.get(tuple(sorted((influence or {}).items())), build)

    def history(self, user_id: str | None, live: Sequence[LiveEvent] = ()) -> UserHistory:
        """Training history plus live events, oldest first."""
        base = self.model.training_history(user_id) if user_id else UserHistory.empty()
        if not live:
            return base
        items = np.concatenate([base.items, np.array([e.item_index for e in live], np.int64)])
        stamps = np.concatenate(
            [
                base.timestamps if base.timestamps is not None else np.zeros(len(base.items), np.int64),
                np.array([e.timestamp for e in live], np.int64),
            ]
        )
        events = list(base.event_types or [""] * len(base.items)) + [e.event_type for e in live]
        order = np.argsort(stamps, kind="stable")
        live_items = np.array([e.item_index for e in live], np.int64)
        return UserHistory(items[order], stamps[order], [events[i] for i in order], base.user, live_items)

    def user_context(self, user_id: str | None, history: UserHistory) -> UserContext:
        live = self.live_user(user_id) if self.live_user is not None and user_id else None
        return UserContext(
            metadata=live if live is not None else self.users.get(user_id or "", {}),
            item_indices=history.items,
            event_types=np.asarray(history.event_types or [], dtype=object),
        )

    def metadata(self, index: int, columns: Sequence[str]) -> dict[str, str]:
        out = {}
        for name in columns:
            values = self.item_columns.get(name.upper())
            value = values[index] if values is not None else None
            if value is not None:
                out[name] = str(value)
        return out

    def mask(
        self, filt: CompiledFilter | None, values: Mapping[str, str], user: UserContext, current_item: int | None
    ) -> np.ndarray | None:
        """The items ``filt`` allows for this user (None: every item); bad filterValues -> InvalidInputException."""
        if filt is None:
            return None
        try:
            return filt.mask(user, values, current_item)
        except FilterValueError as exc:
            raise InvalidInputException(f"filterValues: {exc}") from None

    def related_scores(self, item_id: str | None) -> tuple[np.ndarray, int | None]:
        """Scores for items related to ``item_id`` (the item itself excluded) and its index; popularity when the
        model does not know the item (index None)."""
        current = self.model.item_index.get(item_id) if item_id is not None else None
        if current is None:
            return np.array(self.model.popularity_scores(), dtype=np.float64, copy=True), None
        scores = np.array(self.model.score_item(current), dtype=np.float64, copy=True)
        scores[current] = -np.inf
        return scores, current

    def recommend(
        self,
        scores: np.ndarray | ScoredItems,
        k: int,
        allowed: np.ndarray | None,
        promotion: tuple[Promotion, np.ndarray | None] | None = None,
    ) -> list[tuple[int, float, str | None]]:
        """Top ``k`` allowed items, with promoted items mixed in; (index, rounded score, promotionName)."""
        scored = scores if isinstance(scores, ScoredItems) else ScoredItems.of(scores)
        main = scored.top_k(k, allowed)
        if promotion is None:
            return list(zip(main.indices.tolist(), public_scores(main.scores), [None] * len(main), strict=True))
        promo, promo_mask = promotion
        eligible = promo_mask if allowed is None else (allowed if promo_mask is None else allowed & promo_mask)
        promoted: Ranked = scored.top_k(k, eligible)
        mixed = mix_promotions(main, promoted, k, promo.percent)
        rounded = public_scores([s for _, s, _ in mixed])
        return [(i, s, promo.name if flag else None) for (i, _, flag), s in zip(mixed, rounded, strict=True)]

    def rank(self, scores: np.ndarray, item_ids: Sequence[str], allowed: np.ndarray | None) -> RankedIds:
        """Order the caller's list best first; duplicates and filtered-out items dropped; unknown items last."""
        item_ids = list(dict.fromkeys(item_ids))
        indices = self.id_index.positions(item_ids)
        order, values = rank_list(scores, indices, allowed)
        return RankedIds(list(map(item_ids.__getitem__, order.tolist())), public_scores(values))
