"""``EventStore.serving_reads`` (the runtime's one-statement read of live data) against the reads it replaced.

GetRecommendations and GetPersonalizedRanking read the user's newest events, the unclaimed session named like
the user and the ITEMS live-records version in one ``UNION ALL``; what they return must stay what
``item_history`` and ``live_version`` return, on both backends: every prefix of a random event stream
(anonymous events, sessions claimed by a later event, other users and groups, events without an item,
PutItems in between) read at per-request caps below and above each history's length.
"""

from __future__ import annotations

import random

import pytest

from openpersonalize.store.events import EventStore
from openpersonalize.store.metadata import MetadataStore

USERS = ("alice", "bob", "s1", "s2")  # s1 and s2 are also sessions: anonymous users ask with their sessionId
SESSIONS = ("s1", "s2", "s3", "alice")
GROUPS = ("g1", "g2")
ITEMS_KEY = "arn:aws:personalize:eu-west-3:000000000000:dataset/g1/ITEMS"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else f"sqlite:///{tmp_path}/m.db"
    metadata = MetadataStore(url)
    try:
        yield EventStore(metadata)
    finally:
        metadata.engine.dispose()


def _events(rnd: random.Random, clock: list[float]) -> list[dict]:
    rows = []
    for _ in range(rnd.randint(1, 4)):
        clock[0] += 1
        rows.append(
            {
                "tracking_id": "tracker",
                "dataset_group_arn": rnd.choice(GROUPS),
                "user_id": rnd.choice((*USERS, None, None)),
                "session_id": rnd.choice(SESSIONS),
                "event_type": rnd.choice(("watch", "click")),
                "item_id": rnd.choice((f"i{rnd.randint(0, 30)}", None)),
                "timestamp": clock[0],
            }
        )
    return rows


def test_serving_reads_are_the_history_and_version_reads(store):
    rnd = random.Random(1)
    clock = [1.6e9]
    for step in range(120):
        store.append_events(_events(rnd, clock))
        if step % 15 == 0:
            store.upsert_records(ITEMS_KEY, [(f"i{step}", {"GENRE": "g"})])
        for group in GROUPS:
            for user in (*USERS, "nobody"):
                for cap in (1, 3, 500):
                    expected = (store.live_version(ITEMS_KEY), store.item_history(group, user, None, cap))
                    assert store.serving_reads(group, user, cap, ITEMS_KEY) == expected, (step, group, user, cap)
    assert len(store.item_history("g1", "alice", None, 500)) > 10  # the stream gave alice a history to read


def test_a_history_past_the_cap_keeps_its_newest_events(store):
    rows = [
        {"tracking_id": "t", "dataset_group_arn": "g1", "user_id": "long", "session_id": "s", "event_type": "watch"}
        | {"item_id": f"i{n}", "timestamp": 1.6e9 + n}
        for n in range(40)
    ]
    store.append_events(rows)
    store.append_events([{**rows[0], "user_id": None, "session_id": "long", "item_id": "anon", "timestamp": 2e9}])
    version, events = store.serving_reads("g1", "long", 5, None)
    assert version == 0
    assert events == [(f"i{n}", 1.6e9 + n, "watch") for n in range(35, 40)] + [("anon", 2e9, "watch")]
