"""Every solutionConfig / campaignConfig field changes what trains or how it ranks, or is refused (boto3 over HTTP).

A synthetic shop: 130 users each view the 10 "hot" items twice (value 1) and buy 8 of the 10 "gold" items
(value 10). Counted plainly the hot items are the most popular; counted from the valuable or the weighted
events the gold ones are. aws-popularity-count trains in seconds, so each field gets a solution of its own.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from helpers import RECIPE, avro_schema, deploy, error_code, error_message, import_dataset
from server_harness import unique, wait_status

HOT = [f"hot-{i}" for i in range(10)]
GOLD = [f"gold-{i}" for i in range(10)]
COLD_USER = "someone-new"  # no history: popularity (plus any lean) alone orders the items


def _write(path: Path, header: list[str], rows: list[list]) -> str:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


@pytest.fixture(scope="module")
def shop(server, personalize) -> str:
    """The dataset group: interactions with EVENT_VALUE, and items with PRICE and CREATION_TIMESTAMP.

    Hot items are priced and created in the reverse of their index order (hot-9 the priciest, hot-0 the
    newest), so a lean towards price or freshness reorders items whose popularity ties.
    """
    rows, stamp = [], 1_700_000_000
    for u in range(130):
        for item in HOT * 2:
            rows.append([f"u{u}", item, "view", 1.0, stamp])
            stamp += 1
        for item in GOLD[u % 3 : u % 3 + 8]:
            rows.append([f"u{u}", item, "buy", 10.0, stamp])
            stamp += 1
    work = server.work
    ints = _write(
        work / f"{unique('shop')}.csv", ["USER_ID", "ITEM_ID", "EVENT_TYPE", "EVENT_VALUE", "TIMESTAMP"], rows
    )
    items = [[item, float(i), 1_600_000_000 - i * 86_400] for i, item in enumerate(HOT)]
    items += [[item, 1.0, 1_500_000_000] for item in GOLD]
    items_csv = _write(work / f"{unique('shop-items')}.csv", ["ITEM_ID", "PRICE", "CREATION_TIMESTAMP"], items)
    group = personalize.create_dataset_group(name=unique("shop"))["datasetGroupArn"]
    interactions = avro_schema(
        "Interactions",
        [
            {"name": "USER_ID", "type": "string"},
            {"name": "ITEM_ID", "type": "string"},
            {"name": "EVENT_TYPE", "type": "string"},
            {"name": "EVENT_VALUE", "type": "float"},
            {"name": "TIMESTAMP", "type": "long"},
        ],
    )
    item_schema = avro_schema(
        "Items",
        [
            {"name": "ITEM_ID", "type": "string"},
            {"name": "PRICE", "type": "float"},
            {"name": "CREATION_TIMESTAMP", "type": "long"},
        ],
    )
    import_dataset(personalize, group, "INTERACTIONS", interactions, ints)
    import_dataset(personalize, group, "ITEMS", item_schema, items_csv)
    return group


def _train(personalize, group: str, recipe: str = "aws-popularity-count", **solution) -> dict:
    """A solution of ``recipe`` with ``solution``'s members, and its first version once settled."""
    arn = personalize.create_solution(
        name=unique("cfg"), datasetGroupArn=group, recipeArn=RECIPE + recipe, performAutoTraining=False, **solution
    )["solutionArn"]
    version = personalize.create_solution_version(solutionArn=arn)["solutionVersionArn"]
    return wait_status(
        personalize.describe_solution_version, "solutionVersion", timeout=300, solutionVersionArn=version
    )


def _trained(personalize, group: str, recipe: str = "aws-popularity-count", **solution) -> str:
    done = _train(personalize, group, recipe, **solution)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    return done["solutionVersionArn"]


def _top(personalize, runtime, version: str, **campaign) -> list[str]:
    arn = deploy(personalize, {"c": version}, **campaign)["c"]
    answer = runtime.get_recommendations(campaignArn=arn, userId=COLD_USER, numResults=10)
    return [item["itemId"] for item in answer["itemList"]]


@pytest.fixture(scope="module")
def runtime(server):
    return server.client("personalize-runtime")


@pytest.fixture(scope="module")
def plain(personalize, shop) -> str:
    return _trained(personalize, shop)


def test_plain_counts_put_the_hot_items_first(personalize, runtime, plain):
    assert sorted(_top(personalize, runtime, plain)) == sorted(HOT)


def test_event_value_threshold_trains_on_the_valuable_events_only(personalize, runtime, shop):
    version = _trained(personalize, shop, solutionConfig={"eventValueThreshold": "5"})
    assert sorted(_top(personalize, runtime, version)) == sorted(GOLD)


def test_events_config_weighs_and_thresholds_each_event_type(personalize, runtime, shop):
    weighted = {"eventParametersList": [{"eventType": "view", "weight": 0.1}, {"eventType": "buy", "weight": 1.0}]}
    version = _trained(personalize, shop, solutionConfig={"eventsConfig": weighted})
    assert sorted(_top(personalize, runtime, version)) == sorted(GOLD)  # 26 weighted views < 43 buys
    only_buys = {"eventParametersList": [{"eventType": "view", "eventValueThreshold": 2.0}, {"eventType": "buy"}]}
    version = _trained(personalize, shop, solutionConfig={"eventsConfig": only_buys})
    assert sorted(_top(personalize, runtime, version)) == sorted(GOLD)


def test_optimization_objective_leans_towards_the_item_attribute(personalize, runtime, shop, plain):
    objective = {"optimizationObjective": {"itemAttribute": "PRICE", "objectiveSensitivity": "HIGH"}}
    version = _trained(personalize, shop, solutionConfig=objective)
    assert _top(personalize, runtime, version) == HOT[::-1]  # equally popular: the priciest first
    assert _top(personalize, runtime, plain) != HOT[::-1]


def test_ranking_influence_freshness_puts_new_items_first(personalize, runtime, plain):
    fresh = _top(personalize, runtime, plain, campaignConfig={"rankingInfluence": {"FRESHNESS": 1.0}})
    assert fresh == HOT  # hot-0 is the newest


def test_batch_inference_leans_with_its_ranking_influence(server, personalize, plain):
    work = server.work / unique("batch")
    work.mkdir()
    (work / "users.json").write_text(json.dumps({"userId": COLD_USER}) + "\n")
    arn = personalize.create_batch_inference_job(
        jobName=unique("fresh"),
        solutionVersionArn=plain,
        roleArn="arn:aws:iam::000000000000:role/x",
        jobInput={"s3DataSource": {"path": str(work / "users.json")}},
        jobOutput={"s3DataDestination": {"path": str(work / "out") + "/"}},
        numResults=10,
        batchInferenceJobConfig={"rankingInfluence": {"FRESHNESS": 1.0}},
    )["batchInferenceJobArn"]
    done = wait_status(personalize.describe_batch_inference_job, "batchInferenceJob", batchInferenceJobArn=arn)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    (line,) = (work / "out" / "users.json.out").read_text().splitlines()
    assert json.loads(line)["output"]["recommendedItems"] == HOT


def test_excluded_columns_leave_the_training_data(personalize, shop):
    """Without EVENT_VALUE a threshold has nothing to compare: the version fails saying so."""
    excluded = {"excludedDatasetColumns": {"INTERACTIONS": ["EVENT_VALUE"]}}
    done = _train(personalize, shop, solutionConfig={"eventValueThreshold": "5", "trainingDataConfig": excluded})
    assert done["status"] == "CREATE FAILED" and "EVENT_VALUE" in done["failureReason"]


def test_excluded_columns_are_taken_in_the_schemas_spelling(personalize, shop):
    """A column named in another case is the schema's column: excluding event_value leaves the threshold nothing."""
    excluded = {"excludedDatasetColumns": {"INTERACTIONS": ["event_value"]}}
    done = _train(personalize, shop, solutionConfig={"eventValueThreshold": "5", "trainingDataConfig": excluded})
    assert done["status"] == "CREATE FAILED" and "EVENT_VALUE" in done["failureReason"]
    solution = personalize.describe_solution(solutionArn=done["solutionArn"])["solution"]
    assert solution["solutionConfig"]["trainingDataConfig"] == {
        "excludedDatasetColumns": {"INTERACTIONS": ["EVENT_VALUE"]}
    }


BAD_EXPLORATION = [  # an itemExplorationConfig and the words its InvalidInputException names
    ({"explorationWeigth": "0.3"}, "explorationWeigth"),  # misspelt: it would be ignored
    ({"explorationItemAgeCutOff": "nan"}, "explorationItemAgeCutOff must be a finite number"),
    ({"explorationItemAgeCutOff": "0"}, "explorationItemAgeCutOff must be a number of days above 0"),
]


@pytest.mark.parametrize(("exploration", "words"), BAD_EXPLORATION)
def test_campaigns_and_batch_jobs_refuse_exploration_they_cannot_honour(server, personalize, plain, exploration, words):
    with pytest.raises(ClientError) as err:
        personalize.create_campaign(
            name=unique("explore"), solutionVersionArn=plain, campaignConfig={"itemExplorationConfig": exploration}
        )
    assert error_code(
        err
    ) == "InvalidInputException" and "campaignConfig.itemExplorationConfig." + words in error_message(err)
    with pytest.raises(ClientError) as err:
        personalize.create_batch_inference_job(
            jobName=unique("explore"),
            solutionVersionArn=plain,
            roleArn="arn:aws:iam::000000000000:role/x",
            jobInput={"s3DataSource": {"path": str(server.work / "in.json")}},
            jobOutput={"s3DataDestination": {"path": str(server.work) + "/"}},
            batchInferenceJobConfig={"itemExplorationConfig": exploration},
        )
    assert error_code(
        err
    ) == "InvalidInputException" and "batchInferenceJobConfig.itemExplorationConfig." + words in error_message(err)


def test_item_attribute_affinity_trains_and_segments_users(server, personalize, shop):
    version = _trained(personalize, shop, recipe="aws-item-attribute-affinity")
    work = server.work / unique("segments")
    work.mkdir()
    (work / "attributes.json").write_text(json.dumps({"itemAttributes": 'ITEMS.PRICE = "1.0"'}) + "\n")
    arn = personalize.create_batch_segment_job(
        jobName=unique("segment"),
        solutionVersionArn=version,
        roleArn="arn:aws:iam::000000000000:role/x",
        numResults=5,
        jobInput={"s3DataSource": {"path": str(work / "attributes.json")}},
        jobOutput={"s3DataDestination": {"path": str(work) + "/"}},
    )["batchSegmentJobArn"]
    done = wait_status(personalize.describe_batch_segment_job, "batchSegmentJob", batchSegmentJobArn=arn)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    (line,) = (work / "attributes.json.out").read_text().splitlines()
    users = json.loads(line)["output"]["usersList"]
    assert len(set(users)) == 5 and all(u.startswith("u") for u in users)


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"trainingDataConfig": {"excludedDatasetColumns": {"INTERACTIONS": ["USER_ID"]}}}, "excludedDatasetColumns"),
        ({"eventValueThreshold": "lots"}, "solutionConfig.eventValueThreshold"),
        ({"featureTransformationParameters": {"no_such": "1"}}, "featureTransformationParameters"),
        ({"optimizationObjective": {"itemAttribute": "PRICE"}}, "optimizationObjective"),  # on aws-sims
        ({"eventsConfig": {"eventParametersList": [{"weight": 0.5}]}}, "eventParametersList[0].eventType"),
        # a column the dataset does not have, or a dataset the group does not have, would train as if unnamed
        ({"trainingDataConfig": {"excludedDatasetColumns": {"ITEMS": ["GENRES"]}}}, "'GENRES' is not a column"),
        ({"trainingDataConfig": {"includedDatasetColumns": {"USERS": ["AGE"]}}}, "no USERS dataset"),
        # a value training cannot read would fail the version late, or silently train with something else
        (
            {"algorithmHyperParameters": {"neighbours": "many"}},
            "algorithmHyperParameters.neighbours must be an integer",
        ),
        (
            {"algorithmHyperParameters": {"popularity_discount_factor": "inf"}},
            "popularity_discount_factor must be a number",
        ),
        ({"algorithmHyperParameters": {"repeat_model": "sometimes"}}, "repeat_model must be true or false"),
    ],
)
def test_fields_that_cannot_train_are_refused(personalize, shop, config, named):
    with pytest.raises(ClientError) as err:
        personalize.create_solution(
            name=unique("bad"), datasetGroupArn=shop, recipeArn=RECIPE + "aws-sims", solutionConfig=config
        )
    assert error_code(err) == "InvalidInputException" and named in error_message(err)


def test_user_personalization_hyperparameters_are_checked_by_kind(personalize, shop):
    """hidden_dimension is read only when iALS weighs in: "abc" trained with the default, unnoticed."""
    for name, value, words in (("hidden_dimension", "abc", "an integer"), ("recency_mask", "maybe", "one of true")):
        with pytest.raises(ClientError) as err:
            personalize.create_solution(
                name=unique("bad"),
                datasetGroupArn=shop,
                recipeArn=RECIPE + "aws-user-personalization",
                solutionConfig={"algorithmHyperParameters": {name: value}},
            )
        assert error_code(err) == "InvalidInputException"
        assert f"algorithmHyperParameters.{name} must be {words}" in error_message(err)
    taken = {"hidden_dimension": "128", "recency_mask": "FALSE", "ease_lambda": "150.5"}
    solution = personalize.create_solution(
        name=unique("good"),
        datasetGroupArn=shop,
        recipeArn=RECIPE + "aws-user-personalization",
        performAutoTraining=False,
        solutionConfig={"algorithmHyperParameters": taken},
    )["solutionArn"]
    described = personalize.describe_solution(solutionArn=solution)["solution"]
    assert described["solutionConfig"]["algorithmHyperParameters"] == taken


def test_objective_on_a_missing_attribute_fails_the_version(personalize, shop):
    done = _train(personalize, shop, solutionConfig={"optimizationObjective": {"itemAttribute": "VIDEO_LENGTH"}})
    assert done["status"] == "CREATE FAILED" and "VIDEO_LENGTH" in done["failureReason"]


def test_campaigns_on_user_segmentation_recipes_are_refused(personalize, shop):
    version = _trained(personalize, shop, recipe="aws-item-affinity")
    with pytest.raises(ClientError) as err:
        personalize.create_campaign(name=unique("seg"), solutionVersionArn=version)
    assert error_code(err) == "InvalidInputException" and "USER_SEGMENTATION" in error_message(err)


def test_theme_generation_is_refused_naming_it(personalize, plain, server):
    with pytest.raises(ClientError) as err:
        personalize.create_batch_inference_job(
            jobName=unique("themes"),
            solutionVersionArn=plain,
            jobInput={"s3DataSource": {"path": str(server.work / "in.json")}},
            jobOutput={"s3DataDestination": {"path": str(server.work)}},
            roleArn="arn:aws:iam::000000000000:role/x",
            batchInferenceJobMode="THEME_GENERATION",
            themeGenerationConfig={"fieldsForThemeGeneration": {"itemName": "TITLE"}},
        )
    assert error_code(err) == "InvalidInputException" and "generative model" in error_message(err)


def test_reason_names_promoted_and_explored_items(personalize, runtime, shop, plain):
    pricey = personalize.create_filter(
        name=unique("pricey"), datasetGroupArn=shop, filterExpression="INCLUDE ItemID WHERE Items.PRICE > 8"
    )["filterArn"]
    wait_status(personalize.describe_filter, "filter", filterArn=pricey)
    campaign = deploy(personalize, {"c": plain})["c"]
    promotion = {"name": "pricey", "percentPromotedItems": 10, "filterArn": pricey}
    items = runtime.get_recommendations(campaignArn=campaign, userId=COLD_USER, numResults=5, promotions=[promotion])
    reasons = {item["itemId"]: item.get("reason") for item in items["itemList"]}
    assert reasons.pop("hot-9") == ["Promoted item"] and set(reasons.values()) == {None}
    # hot items were created 1157 to 1166 days before the newest interaction, gold ones 2315 days before
    explore = {"itemExplorationConfig": {"explorationWeight": "0.3", "explorationItemAgeCutOff": "2000"}}
    campaign = deploy(personalize, {"c": plain}, campaignConfig=explore)["c"]
    items = runtime.get_recommendations(campaignArn=campaign, userId=COLD_USER, numResults=20)["itemList"]
    assert {i["itemId"] for i in items if i.get("reason") == ["Exploration"]} == set(HOT)
    assert all(0.0 <= i["score"] <= 1.0 for i in items), items  # Personalize's scale, exploration or not
    assert all("reason" not in i for i in items if i["itemId"] in GOLD)
