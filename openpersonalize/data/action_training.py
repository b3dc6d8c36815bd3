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

from .actions import EVENT_KINDS, event_kind

KIND_CODES = {kind: code for code, kind in enumerate(EVENT_KINDS)}  # TAKEN 0, NOT_TAKEN 1, VIEWED 2


@dataclass(frozen=True)
class Example:
    """A user taking an action at ``time``: their state before it and what they took in the period."""

    user: int
    time: int
    features: np.ndarray
    targets: np.ndarray
    taken_before: list[tuple[int, float]]


def _strings(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(pc.cast(table[name], pa.string()).to_pylist(), dtype=object)


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
        """Index the data; interactions with actions missing from ``actions`` or of other event types are left out."""
        action_ids = _strings(actions, "ACTION_ID") if actions is not None and actions.num_rows else np.zeros(0, object)
        position = {a: i for i, a in enumerate(action_ids.tolist())}
        users: dict[str, int] = {}
        a_user, a_pos, a_kind, a_ts = [], [], [], []
        if action_interactions is not None and action_interactions.num_rows:
            rows = zip(
                _strings(action_interactions, "USER_ID").tolist(),
                _strings(action_interactions, "ACTION_ID").tolist(),
                _strings(action_interactions, "EVENT_TYPE").tolist(),
                pc.cast(action_interactions["TIMESTAMP"], pa.int64()).to_pylist(),
                strict=True,
            )
            for user, action, event_type, stamp in rows:
                pos, kind = position.get(action), event_kind(event_type)
                if pos is None or kind is None or user is None:
                    continue
                a_user.append(users.setdefault(user, len(users)))
                a_pos.append(pos)
                a_kind.append(KIND_CODES[kind])
                a_ts.append(stamp)
        feature_items = np.zeros(0, object)
        i_user: list[int] = []
        i_feat: list[int] = []
        i_ts: list[int] = []
        if interactions is not None and interactions.num_rows and max_items > 0:
            item_col = _strings(interactions, "ITEM_ID")
            counts = pc.value_counts(pa.array(item_col, pa.string()))
            ranked = sorted(zip(counts.field("counts").to_pylist(), counts.field("values").to_pylist(), strict=True))
            feature_items = np.asarray([item for _, item in ranked[::-1][:max_items]], dtype=object)
            feature = {item: i for i, item in enumerate(feature_items.tolist())}
            stamps = pc.cast(interactions["TIMESTAMP"], pa.int64()).to_pylist()
            for user, item, stamp in zip(_strings(interactions, "USER_ID").tolist(), item_col, stamps, strict=True):
                f = feature.get(item)
                if f is None or user is None:
                    continue
                i_user.append(users.setdefault(user, len(users)))
                i_feat.append(f)
                i_ts.append(stamp)
        n_users = len(users)
        iu, ats = np.asarray(i_user, np.int64), np.asarray(i_ts, np.int64)
        item_order, item_ptr = _by_user(iu, ats, n_users)
        au, ts = np.asarray(a_user, np.int64), np.asarray(a_ts, np.int64)
        action_order, action_ptr = _by_user(au, ts, n_users)
        return cls(
            action_ids=action_ids,
            feature_items=feature_items,
            user_ids=np.asarray(list(users), dtype=object),
            item_ptr=item_ptr,
            item_feats=np.asarray(i_feat, np.int32)[item_order],
            item_ts=ats[item_order],
            action_ptr=action_ptr,
            action_pos=np.asarray(a_pos, np.int32)[action_order],
            action_kind=np.asarray(a_kind, np.int8)[action_order],
            action_ts=ts[action_order],
        )

    @property
    def n_actions(self) -> int:
        return len(self.action_ids)

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
