"""Domain dataset groups and recommenders over boto3 and HTTP: a VIDEO_ON_DEMAND group on ml-latest-small
(watch events) with top-picks and more-like-x answering, stop/start, update and delete; an ECOMMERCE group on
the synthetic shop data with frequently-bought-together; and the bad input Personalize refuses."""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from botocore.exceptions import ClientError

from helpers import RECIPE, avro_schema, error_code, error_message, import_dataset, wait_until
from openpersonalize.control.base import Control, Settings
from openpersonalize.control.kinds import RECOMMENDER_TRAINING
from openpersonalize.control.solutions import sweep_partial_models
from openpersonalize.data import movielens, shop
from openpersonalize.store.events import EventStore
from openpersonalize.store.metadata import MetadataStore, Resource
from server_harness import unique, wait_status

VOD_ITEMS = avro_schema(
    "Items",
    [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "GENRES", "type": "string", "categorical": True},
        {"name": "CREATION_TIMESTAMP", "type": "long"},
        {"name": "YEAR", "type": ["null", "int"]},
    ],
)
SHOP_ITEMS = avro_schema(
    "Items",
    [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "PRICE", "type": "float"},
        {"name": "CATEGORY_L1", "type": "string", "categorical": True},
    ],
)


def _recommender(personalize, group: str, recipe: str, **config) -> str:
    arn = personalize.create_recommender(
        name=unique(recipe.removeprefix("aws-")[:40]), datasetGroupArn=group, recipeArn=RECIPE + recipe, **config
    )["recommenderArn"]
    return arn


def _active(personalize, arn: str) -> dict:
    done = wait_status(personalize.describe_recommender, "recommender", timeout=600, recommenderArn=arn)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    return done


@pytest.fixture(scope="module")
def vod(server, personalize, movielens_dir) -> dict:
    """A VIDEO_ON_DEMAND group on ml-latest-small (click and watch events, movies with GENRES) with a
    top-picks recommender (metadata enabled) and a more-like-x one, trained at once."""
    ratings = movielens.prepare_interactions(movielens_dir / "ratings.csv")
    movies = movielens.prepare_items(movielens_dir / "movies.csv")
    items = pa.table(
        {
            "ITEM_ID": movies["ITEM_ID"],
            "GENRES": movies["GENRE"],
            "CREATION_TIMESTAMP": pa.array([1_000_000_000] * movies.num_rows, pa.int64()),
            "YEAR": movies["YEAR"],
        }
    )
    group = personalize.create_dataset_group(name=unique("vod"), domain="VIDEO_ON_DEMAND")["datasetGroupArn"]
    ints = movielens.write_csv(ratings, server.work / f"{unique('vod-ints')}.csv")
    item_csv = movielens.write_csv(items, server.work / f"{unique('vod-items')}.csv")
    import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(ints), "VIDEO_ON_DEMAND")
    import_dataset(personalize, group, "ITEMS", VOD_ITEMS, str(item_csv), "VIDEO_ON_DEMAND")
    top = _recommender(
        personalize, group, "aws-vod-top-picks", recommenderConfig={"enableMetadataWithRecommendations": True}
    )
    like = _recommender(personalize, group, "aws-vod-more-like-x")
    watched = pc.equal(ratings["EVENT_TYPE"], "watch")
    by_user: dict[str, set[str]] = {}
    for user, item in zip(
        ratings["USER_ID"].filter(watched).to_pylist(), ratings["ITEM_ID"].filter(watched).to_pylist(), strict=True
    ):
        by_user.setdefault(user, set()).add(item)
    return {"group": group, "top": _active(personalize, top), "like": _active(personalize, like), "watched": by_user}


def _items(runtime, **params) -> list[str]:
    return [i["itemId"] for i in runtime.get_recommendations(**params)["itemList"]]


def test_top_picks_answer_and_leave_watched_videos_out(vod, server, personalize) -> None:
    runtime = server.client("personalize-runtime")
    arn = vod["top"]["recommenderArn"]
    got = runtime.get_recommendations(
        recommenderArn=arn, userId="1", numResults=20, metadataColumns={"ITEMS": ["GENRES"]}
    )
    ids = [i["itemId"] for i in got["itemList"]]
    assert len(ids) == 20 and got["recommendationId"]
    assert not set(ids) & vod["watched"]["1"]  # Personalize filters out the videos the user watched
    assert all(i["metadata"]["GENRES"] for i in got["itemList"])
    assert _items(runtime, recommenderArn=arn, userId="2", numResults=20) != ids  # personalised
    described = vod["top"]
    assert described["recipeArn"] == RECIPE + "aws-vod-top-picks"
    assert described["recommenderConfig"]["minRecommendationRequestsPerSecond"] == 1
    assert 0 < described["modelMetrics"]["normalized_discounted_cumulative_gain_at_10"] <= 1
    with pytest.raises(ClientError) as exc:
        runtime.get_recommendations(recommenderArn=arn)
    assert error_code(exc) == "InvalidInputException" and "userId" in error_message(exc)


def test_top_picks_take_filters_and_promotions(vod, server, personalize) -> None:
    runtime = server.client("personalize-runtime")
    arn = vod["top"]["recommenderArn"]
    comedy = personalize.create_filter(
        name=unique("comedy"),
        datasetGroupArn=vod["group"],
        filterExpression='INCLUDE ItemID WHERE Items.GENRES IN ("Comedy")',
    )["filterArn"]
    wait_status(personalize.describe_filter, "filter", filterArn=comedy)
    got = runtime.get_recommendations(
        recommenderArn=arn, userId="1", numResults=10, filterArn=comedy, metadataColumns={"ITEMS": ["GENRES"]}
    )["itemList"]
    assert len(got) == 10 and all("Comedy" in i["metadata"]["GENRES"] for i in got)
    assert not {i["itemId"] for i in got} & vod["watched"]["1"]  # the automatic exclusion holds under a filter
    promoted = runtime.get_recommendations(
        recommenderArn=arn,
        userId="1",
        numResults=10,
        promotions=[{"name": "comedies", "percentPromotedItems": 50, "filterArn": comedy}],
    )["itemList"]
    assert sum(i.get("promotionName") == "comedies" for i in promoted) == 5


def test_more_like_x_answers_related_videos(vod, server) -> None:
    runtime = server.client("personalize-runtime")
    arn = vod["like"]["recommenderArn"]
    toy_story = _items(runtime, recommenderArn=arn, itemId="1", userId="10", numResults=10)
    assert len(toy_story) == 10 and "1" not in toy_story
    assert not set(toy_story) & vod["watched"]["10"]
    assert _items(runtime, recommenderArn=arn, itemId="2571", userId="10", numResults=10) != toy_story
    with pytest.raises(ClientError) as exc:  # More like X needs the user (to leave out what they watched)
        runtime.get_recommendations(recommenderArn=arn, itemId="1")
    assert error_code(exc) == "InvalidInputException" and "userId" in error_message(exc)
    with pytest.raises(ClientError) as exc:
        runtime.get_recommendations(recommenderArn=arn, userId="10")
    assert error_code(exc) == "InvalidInputException" and "itemId" in error_message(exc)


def test_refusals_name_the_recommender_and_its_config(vod, server) -> None:
    """A recommender's refusals name recommenderConfig and the recommender, not a campaign's members."""
    runtime = server.client("personalize-runtime")
    like, top = vod["like"]["recommenderArn"], vod["top"]["recommenderArn"]
    with pytest.raises(ClientError) as exc:  # more-like-x was created without metadata
        runtime.get_recommendations(recommenderArn=like, itemId="1", userId="10", metadataColumns={"ITEMS": ["GENRES"]})
    assert error_code(exc) == "InvalidInputException"
    assert "recommenderConfig.enableMetadataWithRecommendations" in error_message(exc)
    with pytest.raises(ClientError) as exc:
        runtime.get_recommendations(recommenderArn=top, itemId="1", userId="10")
    assert error_code(exc) == "InvalidInputException"
    assert "itemId" in error_message(exc) and top in error_message(exc) and "campaign" not in error_message(exc)


def test_stopped_recommender_refuses_and_starts_again(vod, server, personalize) -> None:
    runtime = server.client("personalize-runtime")
    arn = vod["like"]["recommenderArn"]
    assert personalize.stop_recommender(recommenderArn=arn)["recommenderArn"] == arn
    with pytest.raises(ClientError) as exc:  # only an ACTIVE recommender stops
        personalize.stop_recommender(recommenderArn=arn)
    assert error_code(exc) == "ResourceInUseException"
    seen = set()

    def inactive() -> bool:
        seen.add(personalize.describe_recommender(recommenderArn=arn)["recommender"]["status"])
        return "INACTIVE" in seen

    wait_until(inactive, what="the recommender stopping")
    assert seen <= {"STOP PENDING", "STOP IN_PROGRESS", "INACTIVE"}
    wait_until(lambda: _refused(runtime, arn), what="requests refused")
    with pytest.raises(ClientError) as exc:
        runtime.get_recommendations(recommenderArn=arn, itemId="1", userId="10")
    assert error_code(exc) == "InvalidInputException" and "INACTIVE" in error_message(exc)
    personalize.start_recommender(recommenderArn=arn)
    assert _active(personalize, arn)["status"] == "ACTIVE"
    wait_until(lambda: not _refused(runtime, arn), what="requests answered again")


def _refused(runtime, arn: str) -> bool:
    try:
        runtime.get_recommendations(recommenderArn=arn, itemId="1", userId="10")
    except ClientError:
        return True
    return False


def test_update_of_training_data_retrains_while_the_old_model_serves(vod, server, personalize) -> None:
    arn = vod["like"]["recommenderArn"]
    runtime = server.client("personalize-runtime")
    columns = {"excludedDatasetColumns": {"ITEMS": ["YEAR"]}}
    personalize.update_recommender(recommenderArn=arn, recommenderConfig={"trainingDataConfig": columns})
    described = personalize.describe_recommender(recommenderArn=arn)["recommender"]
    assert described["status"] == "ACTIVE"
    assert described["latestRecommenderUpdate"]["status"] in ("CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE")
    assert len(_items(runtime, recommenderArn=arn, itemId="1", userId="10", numResults=5)) == 5
    with pytest.raises(ClientError) as exc:  # it said "is ACTIVE; it can be updated once ACTIVE"
        personalize.update_recommender(recommenderArn=arn, recommenderConfig={"minRecommendationRequestsPerSecond": 2})
    assert error_code(exc) == "ResourceInUseException" and "update in progress" in error_message(exc)
    with pytest.raises(ClientError) as exc:  # stopping took the retraining's job: the update ended CREATE FAILED
        personalize.stop_recommender(recommenderArn=arn)
    assert error_code(exc) == "ResourceInUseException" and "update in progress" in error_message(exc)
    wait_until(
        lambda: (
            personalize.describe_recommender(recommenderArn=arn)["recommender"]["latestRecommenderUpdate"]["status"]
            in ("ACTIVE", "CREATE FAILED")
        ),
        guard=600,
        what="the retraining",
    )
    described = personalize.describe_recommender(recommenderArn=arn)["recommender"]
    assert described["latestRecommenderUpdate"]["status"] == "ACTIVE", described["latestRecommenderUpdate"]
    assert described["recommenderConfig"]["trainingDataConfig"] == columns
    assert len(_items(runtime, recommenderArn=arn, itemId="1", userId="10", numResults=5)) == 5


def test_list_update_and_delete(vod, server, personalize) -> None:
    listed = personalize.list_recommenders(datasetGroupArn=vod["group"])["recommenders"]
    assert {r["recommenderArn"] for r in listed} == {vod["top"]["recommenderArn"], vod["like"]["recommenderArn"]}
    arn = vod["top"]["recommenderArn"]
    personalize.update_recommender(recommenderArn=arn, recommenderConfig={"minRecommendationRequestsPerSecond": 5})
    described = personalize.describe_recommender(recommenderArn=arn)["recommender"]
    assert described["recommenderConfig"]["minRecommendationRequestsPerSecond"] == 5
    assert described["recommenderConfig"]["enableMetadataWithRecommendations"] is True
    assert described["latestRecommenderUpdate"]["status"] == "ACTIVE"
    with pytest.raises(ClientError) as exc:
        personalize.delete_dataset_group(datasetGroupArn=vod["group"])
    assert error_code(exc) == "ResourceInUseException"
    extra = _recommender(personalize, vod["group"], "aws-vod-trending-now")
    runtime = server.client("personalize-runtime")
    _active(personalize, extra)
    assert len(_items(runtime, recommenderArn=extra, numResults=5)) == 5  # trending needs no user
    personalize.delete_recommender(recommenderArn=extra)
    with pytest.raises(ClientError) as exc:
        personalize.describe_recommender(recommenderArn=extra)
    assert error_code(exc) == "ResourceNotFoundException"


@pytest.fixture(scope="module")
def shop_group(server, personalize) -> dict:
    """An ECOMMERCE group on the synthetic shop data (View and Purchase events)."""
    group = personalize.create_dataset_group(name=unique("shop"), domain="ECOMMERCE")["datasetGroupArn"]
    data = shop.shop_interactions()
    ints = movielens.write_csv(data, server.work / f"{unique('shop-ints')}.csv")
    items = movielens.write_csv(shop.shop_items(), server.work / f"{unique('shop-items')}.csv")
    import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(ints), "ECOMMERCE")
    import_dataset(personalize, group, "ITEMS", SHOP_ITEMS, str(items), "ECOMMERCE")
    return {"group": group, "data": data}


def test_frequently_bought_together_answers_the_complement(shop_group, server, personalize) -> None:
    arn = _recommender(personalize, shop_group["group"], "aws-ecomm-frequently-bought-together")
    _active(personalize, arn)
    runtime = server.client("personalize-runtime")
    hits = 0
    for item in range(0, 40):
        got = _items(runtime, recommenderArn=arn, itemId=f"p{item}", numResults=5)  # userId is optional
        hits += got[0] == f"p{shop.complement(item)}"
    assert hits >= 36, hits


def test_recommended_for_you_leaves_purchases_out_and_explores(shop_group, server, personalize) -> None:
    arn = _recommender(
        personalize,
        shop_group["group"],
        "aws-ecomm-recommended-for-you",
        recommenderConfig={"itemExplorationConfig": {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"}},
    )
    assert _active(personalize, arn)["recommenderConfig"]["itemExplorationConfig"]["explorationWeight"] == "0.3"
    data = shop_group["data"]
    purchases = data.filter(pc.equal(data["EVENT_TYPE"], shop.PURCHASE))
    runtime = server.client("personalize-runtime")
    for user in ("u1", "u2", "u3"):
        bought = set(purchases.filter(pc.equal(purchases["USER_ID"], user))["ITEM_ID"].to_pylist())
        got = _items(runtime, recommenderArn=arn, userId=user, numResults=50)
        assert len(got) == 50 and bought and not set(got) & bought


def test_required_event_type_missing_fails_the_recommender(server, personalize) -> None:
    group = personalize.create_dataset_group(name=unique("views"), domain="ECOMMERCE")["datasetGroupArn"]
    data = shop.shop_interactions(n_users=300)
    views = data.filter(pc.equal(data["EVENT_TYPE"], shop.VIEW))
    ints = movielens.write_csv(views, server.work / f"{unique('views')}.csv")
    import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(ints), "ECOMMERCE")
    arn = _recommender(personalize, group, "aws-ecomm-popular-items-by-purchases")
    done = wait_status(personalize.describe_recommender, "recommender", recommenderArn=arn)
    assert done["status"] == "CREATE FAILED"
    assert "1000 Purchase events" in done["failureReason"], done["failureReason"]


BAD_CREATES = [  # (group, recipe, recommenderConfig, words the InvalidInputException's message holds)
    ("shop", "aws-vod-top-picks", {}, ("VIDEO_ON_DEMAND", "ECOMMERCE")),
    ("vod", "aws-sims", {}, ("recipeArn", "custom")),
    ("custom", "aws-vod-top-picks", {}, ("domain",)),
    ("vod", "aws-vod-more-like-x", {"itemExplorationConfig": {"explorationWeight": "0.3"}}, ("itemExplorationConfig",)),
    ("vod", "aws-vod-top-picks", {"itemExplorationConfig": {"explorationWeight": "2"}}, ("explorationWeight",)),
    ("vod", "aws-vod-top-picks", {"trainingDataConfig": {"excludedDatasetColumns": {"ITEMS": ["NOPE"]}}}, ("NOPE",)),
    (
        "vod",
        "aws-vod-top-picks",
        {"trainingDataConfig": {"excludedDatasetColumns": {"INTERACTIONS": ["EVENT_TYPE"]}}},
        ("EVENT_TYPE", "required"),
    ),
    # exploration settings Personalize does not have, or values that explore nothing, are not silently kept
    (
        "shop",
        "aws-ecomm-recommended-for-you",
        {"itemExplorationConfig": {"explorationWeigth": "0.3"}},
        ("explorationWeigth",),
    ),
    ("vod", "aws-vod-top-picks", {"itemExplorationConfig": {"explorationItemAgeCutOff": "nan"}}, ("finite",)),
    ("vod", "aws-vod-top-picks", {"itemExplorationConfig": {"explorationItemAgeCutOff": "-1"}}, ("above 0",)),
]


@pytest.mark.parametrize(("group", "recipe", "config", "words"), BAD_CREATES)
def test_create_recommender_refuses_bad_input(vod, shop_group, personalize, group, recipe, config, words) -> None:
    groups = {"vod": vod["group"], "shop": shop_group["group"]}
    groups["custom"] = personalize.create_dataset_group(name=unique("custom"))["datasetGroupArn"]
    with pytest.raises(ClientError) as exc:
        personalize.create_recommender(
            name=unique("bad"), datasetGroupArn=groups[group], recipeArn=RECIPE + recipe, recommenderConfig=config
        )
    assert error_code(exc) == "InvalidInputException"
    assert all(word in error_message(exc) for word in words), error_message(exc)


def test_unknown_recommender_and_domain_recipe_in_a_solution(vod, server, personalize) -> None:
    missing = vod["top"]["recommenderArn"] + "-gone"
    runtime = server.client("personalize-runtime")
    for call, params in (
        (personalize.describe_recommender, {}),
        (personalize.delete_recommender, {}),
        (personalize.stop_recommender, {}),
        (runtime.get_recommendations, {"userId": "1"}),
    ):
        with pytest.raises(ClientError) as exc:
            call(recommenderArn=missing, **params)
        assert error_code(exc) == "ResourceNotFoundException" and missing in error_message(exc)
    with pytest.raises(ClientError) as exc:
        personalize.create_solution(
            name=unique("sol"), datasetGroupArn=vod["group"], recipeArn=RECIPE + "aws-vod-top-picks"
        )
    assert error_code(exc) == "InvalidInputException" and "CreateRecommender" in error_message(exc)


def test_list_recipes_by_domain(personalize) -> None:
    ecommerce = personalize.list_recipes(domain="ECOMMERCE")["recipes"]
    assert {r["name"] for r in ecommerce} == {
        "aws-ecomm-recommended-for-you",
        "aws-ecomm-popular-items-by-views",
        "aws-ecomm-popular-items-by-purchases",
        "aws-ecomm-frequently-bought-together",
        "aws-ecomm-customers-who-viewed-x-also-viewed",
    }
    assert {r["domain"] for r in ecommerce} == {"ECOMMERCE"}
    every = {r["name"]: r for r in personalize.list_recipes(recipeProvider="SERVICE")["recipes"]}
    assert every["aws-vod-top-picks"]["domain"] == "VIDEO_ON_DEMAND"
    assert "domain" not in every["aws-sims"]


def test_starting_node_keeps_the_scratch_of_a_running_recommender_training(tmp_path) -> None:
    """A node starting while another trains a recommender sweeps only the leftovers of finished trainings."""
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    control = Control(Settings(data_dir=tmp_path), store, EventStore(store))
    recommender = "arn:aws:personalize:r:1:recommender/rec"
    store.insert(Resource(recommender, "recommender", "rec", None, "CREATE IN_PROGRESS", {}))
    scratch = {}
    for name, status in (("running", "CREATE IN_PROGRESS"), ("done", "ACTIVE")):
        arn = f"{recommender}/{name}"
        store.insert(Resource(arn, RECOMMENDER_TRAINING, "rec", recommender, status, {}))
        scratch[name] = control.objects.scratch_model_dir(arn, "attempt")
        scratch[name].mkdir(parents=True)
    sweep_partial_models(control, running=set(), before=time.time() + 1)
    assert scratch["running"].is_dir() and not scratch["done"].exists()
