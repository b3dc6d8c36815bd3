"""Next-Best-Action training data: actions, users' action interactions and item interactions, indexed.

A user's state at a moment is a set of feature indices: the items they interacted with (the
``max_items`` most interacted items are features), and per action whether they took it, chose
not to take it, or viewed it. Each time a user takes an action is one example: the state just
before it, and the actions they took within the optimization period from then on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .actions import DAY_SECONDS, EVENT_KINDS, event_kind

KIND_CODES = {kind: code for code, kind in enumerate(EVENT_KINDS)}  # TAKEN 0, NOT_TAKEN 1, VIEWED 2
MIN_SCORED_EVENTS = 50  # an action is scored with 50 Taken and 50 Not Taken or Viewed interactions
# Personalize considers at most 1,000 actions in training, those with the most recent interactions first;
# the model's size grows with the square of the action count, so more would exhaust memory and time.
MAX_TRAINED_ACTIONS = 1000
SCORED_WINDOW = 42 * DAY_SECONDS  # within six weeks of the newest action interaction


@dataclass(frozen=True)
class Example:
    """A user taking an action at ``time``: their state before it and what they took in the period."""

    user: int
    time: int
    features: np.ndarray
    targets: np.ndarray
    taken_before: list[tuple[int, float]]


def _strings(table: pa.Table, name: str) -> pa.Array:
    return pc.cast(table[name], pa.string()).combine_chunks()


def _stamps(table: pa.Table) -> pa.Array:
    return pc.cast(table["TIMESTAMP"], pa.int64()).combine_chunks()


def _codes(values: pa.Array, dictionary: pa.Array) -> np.ndarray:
    return pc.index_in(values, value_set=dictionary).to_numpy(zero_copy_only=False).astype(np.int64)


def _action_rows(table: pa.Table | None, action_ids: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray, np.ndarray]:
    """(user ids, action positions, kind codes, times) of the action interactions with a known action, kind and user."""
    if table is None or table.num_rows == 0:
        return pa.array([], pa.string()), np.zeros(0, np.int32), np.zeros(0, np.int8), np.zeros(0, np.int64)
    types = _strings(table, "EVENT_TYPE")
    names = pc.unique(types)
    codes = pa.array([KIND_CODES.get(event_kind(t) or "") for t in names.to_pylist()], pa.int8())
    kinds = pc.take(codes, pc.index_in(types, value_set=names))
    positions = pc.index_in(_strings(table, "ACTION_ID"), value_set=action_ids)
    users = _strings(table, "USER_ID")
    keep = pc.and_(pc.and_(pc.is_valid(positions), pc.is_valid(kinds)), pc.is_valid(users))
    return (
        pc.filter(users, keep),
        pc.filter(positions, keep).to_numpy(zero_copy_only=False).astype(np.int32),
        pc.filter(kinds, keep).to_numpy(zero_copy_only=False).astype(np.int8),
        pc.filter(_stamps(table), keep).to_numpy(zero_copy_only=False),
    )


def _most_recent(n_actions: int, positions: np.ndarray, stamps: np.ndarray, limit: int) -> np.ndarray:
    """The positions (ascending) of the ``limit`` actions with the newest interactions; ties and actions
    without any go by position."""
    if n_actions <= limit:
        return np.arange(n_actions)
    newest = np.full(n_actions, -np.inf)
    np.maximum.at(newest, positions, stamps.astype(np.float64))
    return np.sort(np.lexsort((np.arange(n_actions), -newest))[:limit])


def _by_user(user_codes: np.ndarray, stamps: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """(order sorting rows by user then time, user_ptr)."""
    order = np.lexsort((stamps, user_codes))
    ptr = np.zeros(n_users + 1, np.int64)
    np.cumsum(np.bincount(user_codes, minlength=n_users), out=ptr[1:])
    return order, ptr


@dataclass
class ActionTrainingData:
    """Per-user item features and action events, each sorted by time (``*_ptr`` delimit users)."""

    action_ids: np.ndarray
    feature_items: np.ndarray
    user_ids: np.ndarray
    item_ptr: np.ndarray
    item_feats: np.ndarray
    item_ts: np.ndarray
    action_ptr: np.ndarray
    action_pos: np.ndarray
    action_kind: np.ndarray
    action_ts: np.ndarray

    @classmethod
    def from_tables(
        cls,
        actions: pa.Table | None,
        action_interactions: pa.Table | None,
        interactions: pa.Table | None,
        max_items: int,
    ) -> ActionTrainingData:
        """Index the data; interactions with actions missing from ``actions`` or of other event types are left out,
        and of more than ``MAX_TRAINED_ACTIONS`` actions only those with the newest interactions are trained.

        Vectorised with pyarrow: item interactions may be tens of millions of rows.
        """
        action_ids = (
            _strings(actions, "ACTION_ID") if actions is not None and actions.num_rows else pa.array([], pa.string())
        )
        a_users, a_pos, a_kind, a_ts = _action_rows(action_interactions, action_ids)
        kept = _most_recent(len(action_ids), a_pos, a_ts, MAX_TRAINED_ACTIONS)
        if len(kept) < len(action_ids):
            position = np.full(len(action_ids), -1, np.int32)
            position[kept] = np.arange(len(kept), dtype=np.int32)
            rows = position[a_pos] >= 0
            action_ids = pc.take(action_ids, pa.array(kept))
            a_users, a_pos = a_users.filter(pa.array(rows)), position[a_pos][rows]
            a_kind, a_ts = a_kind[rows], a_ts[rows]
        feature_items = pa.array([], pa.string())
        i_users, i_feat, i_ts = pa.array([], pa.string()), np.zeros(0, np.int32), np.zeros(0, np.int64)
        if interactions is not None and interactions.num_rows and max_items > 0:
            items = _strings(interactions, "ITEM_ID")
            counts = pc.value_counts(items)
            order = pc.sort_indices(
                pa.table({"n": counts.field("counts"), "v": counts.field("values")}),
                sort_keys=[("n", "descending"), ("v", "descending")],
            )
            feature_items = pc.take(counts.field("values"), order[:max_items])
            feats = pc.index_in(items, value_set=feature_items)
            users = _strings(interactions, "USER_ID")
            keep = pc.and_(pc.is_valid(feats), pc.is_valid(users))
            i_users = pc.filter(users, keep)
            i_feat = pc.filter(feats, keep).to_numpy(zero_copy_only=False).astype(np.int32)
            i_ts = pc.filter(_stamps(interactions), keep).to_numpy(zero_copy_only=False)
        user_ids = pc.unique(pa.chunked_array([a_users, i_users], pa.string()))
        item_order, item_ptr = _by_user(_codes(i_users, user_ids), i_ts, len(user_ids))
        action_order, action_ptr = _by_user(_codes(a_users, user_ids), a_ts, len(user_ids))
        return cls(
            action_ids=np.asarray(action_ids.to_pylist(), dtype=object),
            feature_items=np.asarray(feature_items.to_pylist(), dtype=object),
            user_ids=np.asarray(user_ids.to_pylist(), dtype=object),
            item_ptr=item_ptr,
            item_feats=i_feat[item_order],
            item_ts=i_ts[item_order],
            action_ptr=action_ptr,
            action_pos=a_pos[action_order],
            action_kind=a_kind[action_order],
            action_ts=a_ts[action_order],
        )

    @property
    def n_actions(self) -> int:
        return len(self.action_ids)

    def trained_rows(self, actions: pa.Table) -> pa.Table:
        """The rows of ``actions`` (the table this data was built from) of the actions it trains, in its order."""
        if len(self.action_ids) == actions.num_rows:
            return actions
        trained = pa.array(self.action_ids.tolist(), pa.string())
        return actions.filter(pc.is_in(_strings(actions, "ACTION_ID"), value_set=trained))

    @property
    def n_features(self) -> int:
        """Item features, then taken / not taken / viewed per action."""
        return len(self.feature_items) + len(EVENT_KINDS) * self.n_actions

    def action_feature(self, position: int, kind_code: int) -> int:
        """The feature index of having had a ``kind_code`` interaction with the action at ``position``."""
        return len(self.feature_items) + kind_code * self.n_actions + position

    def taken_counts(self, until: float = np.inf) -> np.ndarray:
        """Taken events per action before ``until`` (the most-popular-action baseline)."""
        taken = (self.action_kind == KIND_CODES["TAKEN"]) & (self.action_ts < until)
        return np.bincount(self.action_pos[taken], minlength=self.n_actions).astype(np.float64)

    def scored_actions(self, until: float = np.inf) -> np.ndarray:
        """Which actions a model trained on the events before ``until`` scores, as Personalize documents: those
        with ``MIN_SCORED_EVENTS`` Taken and as many Not Taken or Viewed interactions in the ``SCORED_WINDOW``
        before the newest action interaction (1: scored, 0: its score is 0)."""
        before = self.action_ts < until
        if not before.any():
            return np.zeros(self.n_actions, np.float32)
        recent = before & (self.action_ts >= self.action_ts[before].max() - SCORED_WINDOW)
        taken = recent & (self.action_kind == KIND_CODES["TAKEN"])
        counts = np.bincount(self.action_pos[taken], minlength=self.n_actions)
        others = np.bincount(self.action_pos[recent & ~taken], minlength=self.n_actions)
        return ((counts >= MIN_SCORED_EVENTS) & (others >= MIN_SCORED_EVENTS)).astype(np.float32)

    def user_state(self, user: int, before: float) -> tuple[np.ndarray, list[tuple[int, float]]]:
        """The user's feature indices from events strictly before ``before``, and their (action, time) taken."""
        lo, hi = self.item_ptr[user], self.item_ptr[user + 1]
        cut = lo + int(np.searchsorted(self.item_ts[lo:hi], before, "left"))
        feats = set(self.item_feats[lo:cut].tolist())
        taken: list[tuple[int, float]] = []
        lo, hi = self.action_ptr[user], self.action_ptr[user + 1]
        cut = lo + int(np.searchsorted(self.action_ts[lo:hi], before, "left"))
        for pos, kind, stamp in zip(
            self.action_pos[lo:cut].tolist(),
            self.action_kind[lo:cut].tolist(),
            self.action_ts[lo:cut].tolist(),
            strict=True,
        ):
            feats.add(self.action_feature(pos, kind))
            if kind == KIND_CODES["TAKEN"]:
                taken.append((pos, float(stamp)))
        return np.fromiter(sorted(feats), np.int64, len(feats)), taken

    def examples(self, period_seconds: float, since: float = -np.inf, until: float = np.inf) -> Iterator[Example]:
        """Every Taken event at ``since`` <= time < ``until``, with the actions taken within the period from it
        (before ``until``)."""
        taken_code = KIND_CODES["TAKEN"]
        for user in range(len(self.user_ids)):
            lo, hi = self.action_ptr[user], self.action_ptr[user + 1]
            stamps, kinds, positions = self.action_ts[lo:hi], self.action_kind[lo:hi], self.action_pos[lo:hi]
            is_taken = kinds == taken_code
            for j in np.flatnonzero(is_taken & (stamps >= since) & (stamps < until)).tolist():
                t = int(stamps[j])
                window = is_taken & (stamps >= t) & (stamps < min(t + period_seconds, until))
                features, taken = self.user_state(user, t)
                yield Example(user, t, features, np.unique(positions[window]), taken)
