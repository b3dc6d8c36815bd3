"""No runtime request stalls the others (issue 13): what a request reads is bounded, and loads run off the loop.

Replays an outside probe against a real server: a user with a long live history, more campaigns than
the old eight-entry caches held, and PutItems between requests. The server logs (at debug level) how
many live events each request read and, for every model load and deployment build, the thread that
ran it; the tests count those instead of timing anything.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import RECIPE, deploy, import_dataset, own_server
from openpersonalize.data import movielens
from openpersonalize.runtime.service import MAX_LIVE_EVENTS
from server_harness import unique, wait_status

N_VERSIONS = 9  # one more than the probe's eight-entry caches
N_ITEMS = 40
HOT_EVENTS = 600  # more than MAX_LIVE_EVENTS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with own_server(tmp_path_factory.mktemp("bounds"), "--log-level", "debug") as srv:
        yield srv


@pytest.fixture(scope="module")
def personalize(server):
    return server.client("personalize")


@pytest.fixture(scope="module")
def runtime(server):
    return server.client("personalize-runtime")


@pytest.fixture(scope="module")
def world(server, personalize) -> dict:
    """A small group (40 items, 1,200 interactions, an ITEMS dataset), nine popularity-count solutions
    and a campaign on each one's version."""
    ints = server.work / "ints.csv"
    rows = [f"u{u},i{(u * 7 + k) % N_ITEMS},watch,{1_600_000_000 + u * 100 + k}" for u in range(60) for k in range(20)]
    ints.write_text("USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n" + "\n".join(rows) + "\n")
    items = server.work / "items.csv"
    items.write_text("ITEM_ID,GENRE,YEAR\n" + "".join(f"i{i},g{i % 3},{2000 + i}\n" for i in range(N_ITEMS)))
    group = personalize.create_dataset_group(name=unique("bounds"))["datasetGroupArn"]
    import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(ints))
    items_arn = import_dataset(personalize, group, "ITEMS", movielens.ITEMS_SCHEMA, str(items))
    versions = {}
    for n in range(N_VERSIONS):
        solution = personalize.create_solution(
            name=unique("pop"), datasetGroupArn=group, recipeArn=RECIPE + "aws-popularity-count"
        )["solutionArn"]
        versions[f"v{n}"] = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    for arn in versions.values():
        done = wait_status(
            personalize.describe_solution_version, "solutionVersion", timeout=600, solutionVersionArn=arn
        )
        assert done["status"] == "ACTIVE", done.get("failureReason")
    campaigns = deploy(personalize, versions)
    tracker = personalize.create_event_tracker(name=unique("tracker"), datasetGroupArn=group)
    wait_status(personalize.describe_event_tracker, "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
    return {
        "group": group,
        "items": items_arn,
        "campaigns": list(campaigns.values()),
        "tracking": tracker["trackingId"],
    }


def _log(server) -> str:
    return Path(server.data_dir.parent / f"server-{server.port}.log").read_text()


def _threads(server, what: str) -> list[str]:
    """The threads that ran each logged ``what`` ("loading the model" / "building the deployment")."""
    return re.findall(rf"{what} of \S+ in thread (.+)$", _log(server), re.MULTILINE)


def test_long_history_reads_only_the_newest_events(server, runtime, world):
    """The probe: 60,000 events for one user made each of their requests read all of them on the event
    loop. A request now reads at most MAX_LIVE_EVENTS however long the history is."""
    events = server.client("personalize-events")
    for start in range(0, HOT_EVENTS, 10):
        events.put_events(
            trackingId=world["tracking"],
            userId="hot",
            sessionId="hot-session",
            eventList=[
                {"eventType": "watch", "itemId": f"i{n % N_ITEMS}", "sentAt": 1_700_000_000 + n}
                for n in range(start, start + 10)
            ],
        )
    runtime.get_recommendations(campaignArn=world["campaigns"][0], userId="hot", numResults=5)
    reads = [int(n) for n in re.findall(r"read (\d+) live events for a request", _log(server))]
    assert reads and reads[-1] == MAX_LIVE_EVENTS


def test_more_campaigns_than_eight_load_each_model_once_off_the_loop(server, runtime, world):
    """The probe: nine campaigns called in turn rebuilt a model on every call, on the event loop."""
    for _ in range(3):
        for arn in world["campaigns"]:
            assert runtime.get_recommendations(campaignArn=arn, userId="u1", numResults=5)["itemList"]
    loads, builds = _threads(server, "loading the model"), _threads(server, "building the deployment")
    assert len(loads) == N_VERSIONS  # each version's model once (its deploy job loads it)
    assert len(builds) == N_VERSIONS
    assert "MainThread" not in loads + builds  # uvicorn's event loop runs in the main thread


def test_put_items_rebuilds_the_catalogue_off_the_loop(server, runtime, world):
    """The probe: each PutItems made the next GetRecommendations rebuild the catalogue on the event loop."""
    campaign = world["campaigns"][0]
    runtime.get_recommendations(campaignArn=campaign, userId="u1", numResults=5)
    before = len(_threads(server, "building the deployment"))
    server.client("personalize-events").put_items(
        datasetArn=world["items"], items=[{"itemId": "i1", "properties": '{"genre": "g9", "year": 1999}'}]
    )
    runtime.get_recommendations(campaignArn=campaign, userId="u1", numResults=5)  # PutItems is seen at once
    rebuilt = _threads(server, "building the deployment")[before:]
    assert len(rebuilt) == 1 and rebuilt[0] != "MainThread"
