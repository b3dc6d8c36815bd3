"""Notebooks 03-05 through boto3 on ml-latest-small: train, evaluate, deploy, filter, rank."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest
from botocore.exceptions import ClientError

from helpers import HORROR_FAN, METRIC_KEYS, RECIPE, avro_schema, deploy, error_code
from openpersonalize.control.base import Control, Settings
from openpersonalize.control.resource_lookup import StoredResourceLookup
from openpersonalize.data import movielens
from openpersonalize.errors import InvalidInputException
from openpersonalize.runtime.requests import RankRequest
from openpersonalize.runtime.service import DEPLOYED_CACHE_SIZE, RuntimeService
from openpersonalize.server import ServerConfig
from openpersonalize.store.events import EventStore
from openpersonalize.store.metadata import MetadataStore
from server_harness import unique, wait_status


@pytest.fixture(scope="module")
def movies(movielens_dir):
    table = movielens.prepare_items(movielens_dir / "movies.csv")
    return {r["ITEM_ID"]: r for r in table.to_pylist()}, movielens.titles(movielens_dir / "movies.csv")


@pytest.fixture(scope="module")
def popularity(movielens_dir) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in movielens.prepare_interactions(movielens_dir / "ratings.csv").column("ITEM_ID").to_pylist():
        counts[item] = counts.get(item, 0) + 1
    return counts


def _popular(movies, popularity, genre: str, skip: int, n: int, exclude: str = "Comedy") -> list[str]:
    """The n most interacted-with movies of a genre after the first ``skip``."""
    meta, _ = movies
    chosen = [i for i, r in meta.items() if genre in r["GENRE"] and exclude not in r["GENRE"]]
    return sorted(chosen, key=lambda i: -popularity.get(i, 0))[skip : skip + n]


RUNTIME_RECIPES = ("aws-user-personalization", "aws-sims", "aws-personalized-ranking", "aws-popularity-count")


@pytest.fixture(scope="module")
def trained(personalize, poc_group):
    """The shared POC group (ml-latest-small + one horror fan), each runtime recipe's version on a campaign of
    this suite's own."""
    versions = {name: poc_group["versions"][name] for name in RUNTIME_RECIPES}
    campaigns = deploy(personalize, versions, campaignConfig={"enableMetadataWithRecommendations": True})
    return {
        "group": poc_group["group"],
        "versions": versions,
        "campaigns": campaigns,
        "datasets": poc_group["datasets"],
    }


def _filter(personalize, group: str, expression: str) -> str:
    return personalize.create_filter(name=unique("f"), datasetGroupArn=group, filterExpression=expression)["filterArn"]


def _recs(runtime, campaign: str, **kwargs) -> list[str]:
    return [i["itemId"] for i in runtime.get_recommendations(campaignArn=campaign, **kwargs)["itemList"]]


def test_solution_metrics(personalize, trained):
    for name, arn in trained["versions"].items():
        metrics = personalize.get_solution_metrics(solutionVersionArn=arn)["metrics"]
        assert set(metrics) == METRIC_KEYS, name
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
    up = personalize.get_solution_metrics(solutionVersionArn=trained["versions"]["aws-user-personalization"])
    assert up["metrics"]["mean_reciprocal_rank_at_25"] > 0.2690  # Personalize's reported figure
    described = personalize.describe_solution_version(solutionVersionArn=trained["versions"]["aws-sims"])
    assert described["solutionVersion"]["trainingHours"] > 0


def test_sims_neighbours(server, trained, movies):
    meta, _ = movies
    runtime = server.client("personalize-runtime")
    toy_story = _recs(runtime, trained["campaigns"]["aws-sims"], itemId="1", numResults=10)
    kids = [i for i in toy_story if {"Animation", "Children"} & set(meta[i]["GENRE"].split("|"))]
    assert len(kids) >= 6, [meta[i] for i in toy_story]
    assert "1" not in toy_story
    t2 = _recs(runtime, trained["campaigns"]["aws-sims"], itemId="589", numResults=10)
    action = [i for i in t2 if "Action" in meta[i]["GENRE"]]
    assert len(action) >= 6


def test_horror_fan_gets_horror(server, trained, movies):
    meta, _ = movies
    runtime = server.client("personalize-runtime")
    recs = _recs(runtime, trained["campaigns"]["aws-user-personalization"], userId=HORROR_FAN, numResults=20)
    horror = [i for i in recs if "Horror" in meta[i]["GENRE"] or "Thriller" in meta[i]["GENRE"]]
    assert len(horror) >= 12, [meta[i]["GENRE"] for i in recs]


def test_popularity_count_in_order(server, trained, movielens_dir):
    ints = movielens.prepare_interactions(movielens_dir / "ratings.csv")
    counts: dict[str, int] = {}
    for item in ints.column("ITEM_ID").to_pylist():
        counts[item] = counts.get(item, 0) + 1
    runtime = server.client("personalize-runtime")
    got = runtime.get_recommendations(
        campaignArn=trained["campaigns"]["aws-popularity-count"], userId="1", numResults=10
    )
    ids = [i["itemId"] for i in got["itemList"]]
    got_counts = [counts[i] for i in ids]
    assert got_counts == sorted(got_counts, reverse=True)
    assert got_counts[0] == max(counts.values())


def test_personalized_ranking(server, trained, movies, popularity, horror_history):
    meta, titles = movies
    runtime = server.client("personalize-runtime")
    kids = _popular(movies, popularity, "Children", 0, 5, exclude="Horror")
    other_horror = [i for i in _popular(movies, popularity, "Horror", 0, 60) if i not in horror_history][:5]
    items = kids + other_horror + ["no-such-item"]
    ranked = runtime.get_personalized_ranking(
        campaignArn=trained["campaigns"]["aws-personalized-ranking"],
        userId=HORROR_FAN,
        inputList=items + [kids[0], "no-such-item"],  # repeated items are ranked once
    )["personalizedRanking"]
    order = [r["itemId"] for r in ranked]
    assert sorted(order) == sorted(items)
    assert order[-1] == "no-such-item"
    assert sum(1 for i in order[:5] if i in other_horror) >= 3, [titles[i] for i in order if i in titles]

    random.seed(7)
    sample = random.sample(sorted(meta), 25)
    ranked = runtime.get_personalized_ranking(
        campaignArn=trained["campaigns"]["aws-personalized-ranking"], userId="1", inputList=sample
    )["personalizedRanking"]
    assert sorted(r["itemId"] for r in ranked) == sorted(sample)


def test_notebook_filters(server, personalize, trained, movies, horror_history):
    meta, _ = movies
    runtime = server.client("personalize-runtime")
    group, campaign = trained["group"], trained["campaigns"]["aws-user-personalization"]
    comedy = _filter(personalize, group, 'INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")')
    recs = _recs(runtime, campaign, userId="1", numResults=25, filterArn=comedy)
    assert len(recs) == 25 and all("Comedy" in meta[i]["GENRE"].split("|") for i in recs)

    seventies = _filter(personalize, group, "INCLUDE ItemID WHERE Items.YEAR >= 1970 AND Items.YEAR < 1980")
    recs = _recs(runtime, campaign, userId="1", numResults=25, filterArn=seventies)
    assert len(recs) == 25 and all(1970 <= meta[i]["YEAR"] < 1980 for i in recs)

    watched = _filter(personalize, group, 'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")')
    unwatched = _filter(personalize, group, 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")')
    seen = set(horror_history)
    recs = _recs(runtime, campaign, userId=HORROR_FAN, numResults=50, filterArn=watched)
    assert recs and set(recs) <= seen
    recs = _recs(runtime, campaign, userId=HORROR_FAN, numResults=50, filterArn=unwatched)
    assert len(recs) == 50 and not set(recs) & seen

    genre_param = _filter(personalize, group, "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)")
    recs = _recs(runtime, campaign, userId="1", numResults=10, filterArn=genre_param, filterValues={"GENRE": '"Drama"'})
    assert len(recs) == 10 and all("Drama" in meta[i]["GENRE"] for i in recs)

    combined = _filter(
        personalize,
        group,
        'INCLUDE ItemID WHERE Items.GENRE IN ("Horror") | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")',
    )
    recs = _recs(runtime, campaign, userId=HORROR_FAN, numResults=10, filterArn=combined)
    assert recs and all("Horror" in meta[i]["GENRE"] and i not in seen for i in recs)

    with_meta = runtime.get_recommendations(
        campaignArn=campaign, userId="1", numResults=3, metadataColumns={"ITEMS": ["GENRE", "YEAR"]}
    )["itemList"]
    assert all(set(i["metadata"]) == {"GENRE", "YEAR"} for i in with_meta)


def test_promotions_mix_in_flagged_items(server, personalize, trained, movies):
    meta, _ = movies
    runtime = server.client("personalize-runtime")
    group, campaign = trained["group"], trained["campaigns"]["aws-user-personalization"]
    comedy = _filter(personalize, group, 'INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")')
    plain = _recs(runtime, campaign, userId=HORROR_FAN, numResults=20)
    promotion = {"name": "comedy-push", "percentPromotedItems": 25, "filterArn": comedy}
    items = runtime.get_recommendations(campaignArn=campaign, userId=HORROR_FAN, numResults=20, promotions=[promotion])[
        "itemList"
    ]
    ids = [i["itemId"] for i in items]
    promoted = [i["itemId"] for i in items if i.get("promotionName") == "comedy-push"]
    assert len(ids) == 20 and len(set(ids)) == 20
    assert len(promoted) == 5 and all("Comedy" in meta[i]["GENRE"].split("|") for i in promoted)
    assert [i for i in ids if i not in promoted] == [i for i in plain if i not in promoted][:15]


def _in_process(server) -> tuple[Control, RuntimeService]:
    """A server process's control plane and runtime over ``server``'s database and files."""
    store = MetadataStore(ServerConfig(str(server.data_dir), server.database_url).resolved_database_url())
    control = Control(Settings(data_dir=server.data_dir), store, EventStore(store))
    return control, RuntimeService(StoredResourceLookup(control), control.events)


def test_a_new_process_preloads_deployed_campaigns(server, trained):
    """What each server process runs at startup: the newest ACTIVE campaigns load before any request."""
    control, service = _in_process(server)
    active = [c.arn for c in control.store.list("campaign") if c.status == "ACTIVE"]
    warmed = service.warm_campaigns()
    assert warmed and warmed == active[:DEPLOYED_CACHE_SIZE]
    request = RankRequest(campaign_arn=trained["campaigns"]["aws-personalized-ranking"], user_id="1", input_list=["1"])
    ranked = service.rank(request)
    assert [r.item_id for r in ranked.items] == ["1"]


def test_a_bad_ranking_request_reads_no_live_data(server, trained, monkeypatch):
    """GetPersonalizedRanking refuses a wrong campaign, an empty or too long inputList and a missing userId
    before it reads the user's live events (one SQL round trip each request would waste)."""
    control, service = _in_process(server)
    reads = []
    read = control.events.serving_reads
    monkeypatch.setattr(control.events, "serving_reads", lambda *args: reads.append(args) or read(*args))
    ranking, up = trained["campaigns"]["aws-personalized-ranking"], trained["campaigns"]["aws-user-personalization"]
    refused = {
        "PERSONALIZED_RANKING recipe": RankRequest(campaign_arn=up, user_id="1", input_list=["1"]),
        "got 0": RankRequest(campaign_arn=ranking, user_id="1", input_list=[]),
        "got 501": RankRequest(campaign_arn=ranking, user_id="1", input_list=[str(i) for i in range(501)]),
        "userId is required": RankRequest(campaign_arn=ranking, user_id=None, input_list=["1"]),
    }
    for message, request in refused.items():
        with pytest.raises(InvalidInputException, match=message):
            service.rank(request)
    assert reads == []
    service.rank(RankRequest(campaign_arn=ranking, user_id="1", input_list=["1"]))
    assert len(reads) == 1


def test_unknown_user_gets_cold_start(server, trained, popularity, horror_history):
    """A user with no history gets UP's cold start: the items with the most training interactions, most first."""
    counts = dict(popularity)
    for item in horror_history:
        counts[item] = counts.get(item, 0) + 1
    by_count = sorted(counts, key=lambda i: -counts[i])
    assert counts[by_count[9]] > counts[by_count[10]]  # the top 10 is one set, in one order
    runtime = server.client("personalize-runtime")
    recs = _recs(runtime, trained["campaigns"]["aws-user-personalization"], userId="never-seen", numResults=10)
    assert len(recs) == 10 and len(set(recs)) == 10
    assert recs == by_count[:10]


def test_runtime_bad_input(server, personalize, trained):
    runtime = server.client("personalize-runtime")
    up = trained["campaigns"]["aws-user-personalization"]
    for kwargs in ({"numResults": 0}, {"numResults": 501}, {"itemId": "1"}):
        with pytest.raises(ClientError) as err:
            runtime.get_recommendations(campaignArn=up, userId="1", **kwargs)
        assert error_code(err) == "InvalidInputException", kwargs
    missing_filter = trained["group"].replace("dataset-group", "filter") + "-nope"
    with pytest.raises(ClientError) as err:
        runtime.get_recommendations(campaignArn=up, userId="1", filterArn=missing_filter)
    assert error_code(err) == "ResourceNotFoundException"
    param = _filter(personalize, trained["group"], "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)")
    with pytest.raises(ClientError) as err:
        runtime.get_recommendations(campaignArn=up, userId="1", filterArn=param)
    assert error_code(err) == "InvalidInputException" and "GENRE" in str(err.value)
    with pytest.raises(ClientError) as err:
        runtime.get_personalized_ranking(
            campaignArn=trained["campaigns"]["aws-personalized-ranking"],
            userId="1",
            inputList=[str(i) for i in range(501)],
        )
    assert error_code(err) == "InvalidInputException"
    with pytest.raises(ClientError) as err:
        personalize.create_filter(
            name=unique("bad"), datasetGroupArn=trained["group"], filterExpression="INCLUDE ItemID WHERE"
        )
    assert error_code(err) == "InvalidInputException" and "column" in str(err.value)


def test_hpo_changes_hyperparameters(personalize, trained):
    solution = personalize.create_solution(
        name=unique("hpo"),
        datasetGroupArn=trained["group"],
        recipeArn=RECIPE + "aws-sims",
        performHPO=True,
    )["solutionArn"]
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    done = wait_status(
        personalize.describe_solution_version, "solutionVersion", timeout=600, solutionVersionArn=version
    )
    assert done["status"] == "ACTIVE", done.get("failureReason")
    tuned = done["tunedHPOParams"]["algorithmHyperParameters"]
    recipe = personalize.describe_recipe(recipeArn=RECIPE + "aws-sims")["recipe"]
    defaults = personalize.describe_algorithm(algorithmArn=recipe["algorithmArn"])["algorithm"][
        "defaultHyperParameters"
    ]
    assert tuned and any(tuned.get(k) != defaults.get(k) for k in tuned)


def test_real_time_events_change_recommendations(server, personalize, trained, movies):
    """The seed notebook's real-time section: clicks change the next recommendations, no retraining."""
    meta, _ = movies
    runtime, events = server.client("personalize-runtime"), server.client("personalize-events")
    campaign, group = trained["campaigns"]["aws-user-personalization"], trained["group"]
    trackers = personalize.list_event_trackers(datasetGroupArn=group)["eventTrackers"]
    if trackers:
        tracking = personalize.describe_event_tracker(eventTrackerArn=trackers[0]["eventTrackerArn"])
        tracking_id = tracking["eventTracker"]["trackingId"]
    else:
        tracking_id = personalize.create_event_tracker(name=unique("tracker"), datasetGroupArn=group)["trackingId"]

    user = "1"
    before = _recs(runtime, campaign, userId=user, numResults=25)
    horror = [i for i, r in meta.items() if "Horror" in r["GENRE"]]

    def horror_share(items: list[str]) -> int:
        return sum(1 for i in items if "Horror" in meta[i]["GENRE"])

    clicked = horror[:3]
    for item in clicked:
        events.put_events(
            trackingId=tracking_id,
            userId=user,
            sessionId="session-user-1",
            eventList=[{"eventType": "click", "sentAt": 1_700_000_000, "properties": json.dumps({"itemId": item})}],
        )
    after = _recs(runtime, campaign, userId=user, numResults=25)
    assert after != before
    assert horror_share(after) > horror_share(before)

    unwatched = _filter(personalize, group, 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")')
    watched = _filter(personalize, group, 'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")')
    target = _recs(runtime, campaign, userId=user, numResults=1, filterArn=unwatched)[0]
    events.put_events(
        trackingId=tracking_id,
        userId=user,
        sessionId="session-user-1",
        eventList=[{"eventType": "watch", "sentAt": 1_700_000_100, "itemId": target}],
    )
    assert target not in _recs(runtime, campaign, userId=user, numResults=100, filterArn=unwatched)
    assert target in _recs(runtime, campaign, userId=user, numResults=500, filterArn=watched)


def test_anonymous_session_then_login(server, personalize, trained, movies):
    meta, _ = movies
    runtime, events = server.client("personalize-runtime"), server.client("personalize-events")
    campaign, group = trained["campaigns"]["aws-user-personalization"], trained["group"]
    trackers = personalize.list_event_trackers(datasetGroupArn=group)["eventTrackers"]
    tracking_id = (
        personalize.describe_event_tracker(eventTrackerArn=trackers[0]["eventTrackerArn"])["eventTracker"]["trackingId"]
        if trackers
        else personalize.create_event_tracker(name=unique("tracker"), datasetGroupArn=group)["trackingId"]
    )
    session = unique("anon")
    cold = _recs(runtime, campaign, userId=session, numResults=20)
    kids = [i for i, r in meta.items() if "Animation" in r["GENRE"] and "Children" in r["GENRE"]][:5]
    events.put_events(
        trackingId=tracking_id,
        sessionId=session,
        eventList=[{"eventType": "click", "sentAt": 1_700_000_000 + n, "itemId": i} for n, i in enumerate(kids)],
    )
    warm = _recs(runtime, campaign, userId=session, numResults=20)
    assert warm != cold
    assert sum(1 for i in warm if "Animation" in meta[i]["GENRE"]) >= 5

    new_user = unique("user")
    events.put_events(
        trackingId=tracking_id,
        userId=new_user,
        sessionId=session,
        eventList=[{"eventType": "click", "sentAt": 1_700_000_010, "itemId": kids[0]}],
    )
    logged_in = _recs(runtime, campaign, userId=new_user, numResults=20)
    assert sum(1 for i in logged_in if "Animation" in meta[i]["GENRE"]) >= 5


def test_update_training_and_atomic_campaign_switch(server, personalize, trained):
    runtime = server.client("personalize-runtime")
    campaign = trained["campaigns"]["aws-user-personalization"]
    old = trained["versions"]["aws-user-personalization"]
    solution = personalize.describe_solution_version(solutionVersionArn=old)["solutionVersion"]["solutionArn"]
    new = personalize.create_solution_version(solutionArn=solution, trainingMode="UPDATE")["solutionVersionArn"]
    done = wait_status(personalize.describe_solution_version, "solutionVersion", timeout=600, solutionVersionArn=new)
    assert done["status"] == "ACTIVE" and done["trainingMode"] == "UPDATE", done.get("failureReason")

    errors: list[Exception] = []
    served = 0
    stop = threading.Event()

    def hammer() -> None:
        nonlocal served
        client = server.client("personalize-runtime")
        while not stop.is_set():
            try:
                assert len(_recs(client, campaign, userId="2", numResults=10)) == 10
                served += 1
            except Exception as exc:  # noqa: BLE001 - every failure counts
                errors.append(exc)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        personalize.update_campaign(campaignArn=campaign, solutionVersionArn=new)
        deadline = time.time() + 120
        while time.time() < deadline:
            described = personalize.describe_campaign(campaignArn=campaign)["campaign"]
            if described["solutionVersionArn"] == new and described["latestCampaignUpdate"]["status"] == "ACTIVE":
                break
            time.sleep(0.2)
        time.sleep(1.5)
    finally:
        stop.set()
        thread.join()
    assert described["solutionVersionArn"] == new
    assert not errors, errors[:3]
    assert served > 10
    assert len(_recs(runtime, campaign, userId="2", numResults=10)) == 10


def test_stop_solution_version_creation(personalize, trained):
    solution = personalize.create_solution(
        name=unique("stop"), datasetGroupArn=trained["group"], recipeArn=RECIPE + "aws-user-personalization-v2"
    )["solutionArn"]
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    personalize.stop_solution_version_creation(solutionVersionArn=version)
    done = wait_status(
        personalize.describe_solution_version, "solutionVersion", timeout=120, solutionVersionArn=version
    )
    assert done["status"] == "CREATE STOPPED"
    with pytest.raises(ClientError) as err:
        personalize.get_solution_metrics(solutionVersionArn=version)
    assert error_code(err) == "ResourceInUseException"
    with pytest.raises(ClientError) as err:
        personalize.create_solution_version(solutionArn=solution, trainingMode="UPDATE")
    assert error_code(err) == "InvalidInputException"


def test_training_failure_is_reported(server, personalize):
    group = personalize.create_dataset_group(name=unique("tiny"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("s"), schema=json.dumps(movielens.INTERACTIONS_SCHEMA))
    dataset = personalize.create_dataset(
        name=unique("d"), datasetType="INTERACTIONS", datasetGroupArn=group, schemaArn=schema["schemaArn"]
    )["datasetArn"]
    tiny = server.work / f"{unique('tiny')}.csv"
    tiny.write_text("USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n1,1,click,1\n2,1,click,2\n")
    job = personalize.create_dataset_import_job(
        jobName=unique("j"), datasetArn=dataset, dataSource={"dataLocation": str(tiny)}
    )["datasetImportJobArn"]
    assert (
        wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)["status"]
        == "ACTIVE"
    )
    solution = personalize.create_solution(
        name=unique("tiny"), datasetGroupArn=group, recipeArn=RECIPE + "aws-user-personalization"
    )["solutionArn"]
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    done = wait_status(
        personalize.describe_solution_version, "solutionVersion", timeout=120, solutionVersionArn=version
    )
    assert done["status"] == "CREATE FAILED"
    assert "interactions" in done["failureReason"].lower()


def test_put_items_and_put_users_reach_filters_and_metadata(server, personalize, trained, movies):
    meta, _ = movies
    runtime, events = server.client("personalize-runtime"), server.client("personalize-events")
    campaign, group = trained["campaigns"]["aws-user-personalization"], trained["group"]

    top = _recs(runtime, campaign, userId="3", numResults=1)[0]
    assert "Western" not in meta[top]["GENRE"]
    events.put_items(
        datasetArn=trained["datasets"]["ITEMS"],
        items=[{"itemId": top, "properties": json.dumps({"genre": "Western", "year": 1881})}],
    )
    western = _filter(personalize, group, 'INCLUDE ItemID WHERE Items.GENRE IN ("Western")')
    assert top in _recs(runtime, campaign, userId="3", numResults=500, filterArn=western)
    described = runtime.get_recommendations(
        campaignArn=campaign, userId="3", numResults=1, metadataColumns={"ITEMS": ["GENRE", "YEAR"]}
    )["itemList"][0]
    assert described["itemId"] == top and described["metadata"] == {"GENRE": "Western", "YEAR": "1881"}

    users_schema = avro_schema(
        "Users", [{"name": "USER_ID", "type": "string"}, {"name": "MEMBERSHIP", "type": "string", "categorical": True}]
    )
    schema = personalize.create_schema(name=unique("users"), schema=json.dumps(users_schema))["schemaArn"]
    users = personalize.create_dataset(
        name=unique("users"), datasetType="USERS", datasetGroupArn=group, schemaArn=schema
    )["datasetArn"]
    comedy_fans = _filter(
        personalize, group, 'INCLUDE ItemID WHERE Items.GENRE IN ("Comedy") IF CurrentUser.MEMBERSHIP = "comedy"'
    )
    time.sleep(1.2)  # the runtime re-reads a group's datasets once a second
    before = _recs(runtime, campaign, userId="4", numResults=20, filterArn=comedy_fans)
    assert any("Comedy" not in meta[i]["GENRE"] for i in before)
    events.put_users(datasetArn=users, users=[{"userId": "4", "properties": json.dumps({"membership": "comedy"})}])
    after = _recs(runtime, campaign, userId="4", numResults=20, filterArn=comedy_fans)
    assert len(after) == 20 and all("Comedy" in meta[i]["GENRE"] for i in after)
