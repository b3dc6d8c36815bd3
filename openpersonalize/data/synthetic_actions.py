"""A synthetic Next-Best-Action data set: actions, users' action interactions and item interactions.

Users belong to hidden segments; each segment browses its own part of the catalogue and favours
its own actions, while a few actions are popular with everyone. What a user browsed and which
actions they took so far therefore tell which action they take next better than popularity does.
Before taking an action a user is shown a few (Viewed) and declines some of them (Not Taken). One
action, the most popular of all, expired before "now" (``NOW``); some may be repeated after
``REPEAT_DAYS`` days, the others are taken once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .schema import avro_schema

DAY = 86_400
NOW = 1_700_000_000
REPEAT_DAYS = 7
EXPIRED_ACTION = "spring-promo"
ACTION_NAMES = (
    "join-loyalty",
    "download-app",
    "credit-card",
    "newsletter",
    "complete-profile",
    "refer-friend",
    "premium-trial",
    "survey",
    "gift-card",
    "webinar",
    "student-plan",
    "family-plan",
)
ACTIONS_SCHEMA = avro_schema(
    "Actions",
    [
        {"name": "ACTION_ID", "type": "string"},
        {"name": "VALUE", "type": ["null", "long"]},
        {"name": "CATEGORY", "type": ["null", "string"], "categorical": True},
        {"name": "ACTION_EXPIRATION_TIMESTAMP", "type": ["null", "long"]},
        {"name": "REPEAT_FREQUENCY", "type": ["null", "long"]},
    ],
)
ACTION_INTERACTIONS_SCHEMA = avro_schema(
    "ActionInteractions",
    [
        {"name": "USER_ID", "type": "string"},
        {"name": "ACTION_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
    ],
)


@dataclass(frozen=True)
class ActionDataSet:
    """The three tables, named by their Personalize schemas (item views by ``movielens.INTERACTIONS_SCHEMA``)."""

    actions: pa.Table
    action_interactions: pa.Table
    interactions: pa.Table


def action_data(
    n_users: int = 600, n_items: int = 240, n_segments: int = 6, days: int = 90, seed: int = 0
) -> ActionDataSet:
    """Generate the data set; every timestamp lies in the ``days`` before ``NOW``."""
    rng = np.random.default_rng(seed)
    names = [EXPIRED_ACTION, *ACTION_NAMES]
    n_actions = len(names)
    repeatable = np.zeros(n_actions, bool)
    repeatable[1::3] = True
    popularity = np.full(n_actions, 0.2)
    popularity[:3] = (8.0, 1.5, 1.0)  # the expired action was the most popular of all
    segment_actions = [(1 + 2 * s) % n_actions or 1 for s in range(n_segments)]
    start = NOW - days * DAY
    users, items, item_ts = [], [], []
    a_users, a_actions, a_ts, a_types = [], [], [], []
    for u in range(n_users):
        segment = int(rng.integers(n_segments))
        user = f"u{u}"
        own = np.arange(segment, n_items, n_segments)
        for _ in range(int(rng.integers(8, 30))):
            pool = own if rng.random() < 0.8 else np.arange(n_items)
            users.append(user)
            items.append(f"i{int(rng.choice(pool))}")
            item_ts.append(int(rng.integers(start, NOW)))
        preference = popularity.copy()
        favourite = segment_actions[segment]
        preference[favourite] += 4.0
        preference[(favourite + 1) % n_actions or 1] += 2.0
        clock = start + int(rng.integers(0, (days - 30) * DAY))
        taken: dict[int, int] = {}
        for _ in range(int(rng.integers(2, 7))):
            clock += int(rng.integers(DAY, 15 * DAY))
            if clock >= NOW:
                break
            open_ = np.array(
                [a not in taken or (repeatable[a] and clock - taken[a] >= REPEAT_DAYS * DAY) for a in range(n_actions)]
            )
            open_[0] &= clock < NOW - 20 * DAY  # the expired promotion ran until 20 days ago
            weights = preference * open_
            if weights.sum() == 0:
                break
            action = int(rng.choice(n_actions, p=weights / weights.sum()))
            n_shown = min(3, int(open_.sum()))
            shown = rng.choice(n_actions, n_shown, replace=False, p=popularity * open_ / (popularity * open_).sum())
            events = [(int(a), clock - 120, "Viewed") for a in shown]
            events += [(int(a), clock - 60, "Not Taken") for a in shown if a != action and rng.random() < 0.5]
            for a, stamp, event_type in [*events, (action, clock, "Taken")]:
                a_users.append(user)
                a_actions.append(names[a])
                a_ts.append(stamp)
                a_types.append(event_type)
            taken[action] = clock
    actions = pa.table(
        {
            "ACTION_ID": names,
            "VALUE": [int(v) for v in rng.integers(1, 100, n_actions)],
            "CATEGORY": ["promo" if a == 0 else ("repeatable" if repeatable[a] else "once") for a in range(n_actions)],
            "ACTION_EXPIRATION_TIMESTAMP": [NOW - 20 * DAY if a == 0 else None for a in range(n_actions)],
            "REPEAT_FREQUENCY": [REPEAT_DAYS if repeatable[a] else None for a in range(n_actions)],
        },
        schema=pa.schema(
            [
                ("ACTION_ID", pa.string()),
                ("VALUE", pa.int64()),
                ("CATEGORY", pa.string()),
                ("ACTION_EXPIRATION_TIMESTAMP", pa.int64()),
                ("REPEAT_FREQUENCY", pa.int64()),
            ]
        ),
    )
    action_interactions = pa.table(
        {"USER_ID": a_users, "ACTION_ID": a_actions, "TIMESTAMP": pa.array(a_ts, pa.int64()), "EVENT_TYPE": a_types}
    )
    interactions = pa.table(
        {
            "USER_ID": users,
            "ITEM_ID": items,
            "TIMESTAMP": pa.array(item_ts, pa.int64()),
            "EVENT_TYPE": ["view"] * len(users),
        }
    )
    return ActionDataSet(actions, action_interactions, interactions)
