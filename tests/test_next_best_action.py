"""Next best action over boto3 and HTTP: ACTIONS and ACTION_INTERACTIONS datasets imported from a synthetic
action data set, aws-next-best-action trained and deployed, GetActionRecommendations honouring action
expiration, repeat frequency, taken actions, live PutActions / PutActionInteractions and action filters; and
the bad input Personalize refuses."""

from __future__ import annotations

import csv
import json
import time

import pyarrow.csv as pacsv
import pytest
from botocore.exceptions import ClientError

from helpers import (
    METRIC_KEYS,
    RECIPE,
    ROLE,
    avro_schema,
    deploy,
    error_code,
    error_message,
    import_dataset,
    train,
)
from openpersonalize.data import movielens
from openpersonalize.data import synthetic_actions as synthetic
from server_harness import unique, wait_status

EVERY = 100  # numResults asking for every action
NBA = "aws-next-best-action"


@pytest.fixture(scope="module")
def nba(server, personalize) -> dict:
    """A custom group with the synthetic actions, action interactions and item views, an aws-next-best-action
    solution version and its campaign."""
    data = synthetic.action_data(n_users=600, seed=3)
    paths = {}
    for name, table in (
        ("ACTIONS", data.actions),
        ("ACTION_INTERACTIONS", data.action_interactions),
        ("INTERACTIONS", data.interactions),
    ):
        paths[name] = server.work / f"{unique(name.lower())}.csv"
        pacsv.write_csv(table, paths[name])
    group = personalize.create_dataset_group(name=unique("nba"))["datasetGroupArn"]
    datasets = {
        "ACTIONS": import_dataset(personalize, group, "ACTIONS", synthetic.ACTIONS_SCHEMA, str(paths["ACTIONS"])),
        "ACTION_INTERACTIONS": import_dataset(
            personalize,
            group,
            "ACTION_INTERACTIONS",
            synthetic.ACTION_INTERACTIONS_SCHEMA,
            str(paths["ACTION_INTERACTIONS"]),
        ),
        "INTERACTIONS": import_dataset(
            personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(paths["INTERACTIONS"])
        ),
    }
    users = avro_schema(
        "Users", [{"name": "USER_ID", "type": "string"}, {"name": "MEMBERSHIP", "type": "string", "categorical": True}]
    )
    datasets["USERS"] = personalize.create_dataset(  # empty: PutUsers fills it
        name=unique("users"),
        datasetType="USERS",
        datasetGroupArn=group,
        schemaArn=personalize.create_schema(name=unique("users"), schema=json.dumps(users))["schemaArn"],
    )["datasetArn"]
    versions = train(personalize, group, [NBA])
    campaign = deploy(personalize, versions)[NBA]
    tracking = personalize.describe_dataset(datasetArn=datasets["ACTION_INTERACTIONS"])["dataset"]["trackingId"]
    return {
        "data": data,
        "group": group,
        "datasets": datasets,
        "version": versions[NBA],
        "campaign": campaign,
        "tracking_id": tracking,
    }


@pytest.fixture(scope="module")
def runtime(server):
    return server.client("personalize-runtime")


@pytest.fixture(scope="module")
def events(server):
    return server.client("personalize-events")


def _actions(runtime, nba: dict, user: str, **kwargs) -> list[dict]:
    answer = runtime.get_action_recommendations(campaignArn=nba["campaign"], userId=user, **kwargs)
    assert answer["recommendationId"]
    return answer["actionList"]


def _taken(nba: dict, user: str) -> set[str]:
    rows = nba["data"].action_interactions.to_pylist()
    return {r["ACTION_ID"] for r in rows if r["USER_ID"] == user and r["EVENT_TYPE"] == "Taken"}


def _repeatable(nba: dict) -> set[str]:
    return {r["ACTION_ID"] for r in nba["data"].actions.to_pylist() if r["REPEAT_FREQUENCY"] is not None}


def test_the_expired_action_is_never_recommended(nba, personalize, runtime) -> None:
    taken = [r["ACTION_ID"] for r in nba["data"].action_interactions.to_pylist() if r["EVENT_TYPE"] == "Taken"]
    assert max(set(taken), key=taken.count) == synthetic.EXPIRED_ACTION  # the most taken of all, until it expired
    metrics = personalize.get_solution_metrics(solutionVersionArn=nba["version"])["metrics"]
    assert set(metrics) == METRIC_KEYS and metrics["mean_reciprocal_rank_at_25"] > 0
    firsts = set()
    for n in range(0, 300, 15):
        actions = _actions(runtime, nba, f"u{n}", numResults=EVERY)
        ids = [a["actionId"] for a in actions]
        assert actions and synthetic.EXPIRED_ACTION not in ids
        assert actions[0]["score"] > 0
        firsts.add(ids[0])
        scores = [a["score"] for a in actions]
        assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
        # an action taken once (no repeat frequency) is not recommended to that user again
        assert not (_taken(nba, f"u{n}") - _repeatable(nba)) & set(ids)
    assert len(firsts) > 1  # personalised: users of different segments are told different actions first
    assert len(_actions(runtime, nba, "u1")) == 5  # numResults defaults to 5


def test_a_taken_action_waits_for_its_repeat_frequency(nba, runtime, events) -> None:
    user = "u7"
    ids = [a["actionId"] for a in _actions(runtime, nba, user, numResults=EVERY)]
    repeatable = [a for a in ids if a in _repeatable(nba)]
    assert len(repeatable) >= 2, ids
    just_now, long_ago = repeatable[:2]
    days = synthetic.REPEAT_DAYS
    events.put_action_interactions(
        trackingId=nba["tracking_id"],
        actionInteractions=[
            {"actionId": just_now, "userId": user, "sessionId": "s7", "eventType": "Taken", "timestamp": time.time()},
            {
                "actionId": long_ago,
                "userId": user,
                "sessionId": "s7",
                "eventType": "Taken",
                "timestamp": time.time() - (days + 1) * 86400,
            },
        ],
    )
    after = [a["actionId"] for a in _actions(runtime, nba, user, numResults=EVERY)]
    assert just_now not in after  # taken now: not again within its repeat frequency
    assert long_ago in after  # taken longer ago than its repeat frequency: recommended again


def test_put_actions_changes_the_catalogue_at_once(nba, runtime, events) -> None:
    user = "u11"
    before = [a["actionId"] for a in _actions(runtime, nba, user, numResults=EVERY)]
    expiring = before[0]
    events.put_actions(
        datasetArn=nba["datasets"]["ACTIONS"],
        actions=[
            {"actionId": "brand-new", "properties": '{"value": 5, "category": "once"}'},
            {"actionId": expiring, "properties": f'{{"actionExpirationTimestamp": {int(time.time()) - 60}}}'},
        ],
    )
    after = {a["actionId"]: a["score"] for a in _actions(runtime, nba, user, numResults=EVERY)}
    assert expiring not in after
    assert after["brand-new"] == 0.0  # no interactions yet: a propensity of 0, as in Personalize
    events.put_action_interactions(
        trackingId=nba["tracking_id"],
        actionInteractions=[
            {"actionId": "brand-new", "userId": user, "sessionId": "s11", "eventType": "Taken", "timestamp": 1}
        ],
    )
    assert "brand-new" not in {a["actionId"] for a in _actions(runtime, nba, user, numResults=EVERY)}


def test_an_action_with_extreme_longs_never_breaks_the_catalogue(nba, personalize, runtime, events) -> None:
    """Any long is a valid ACTION_EXPIRATION_TIMESTAMP or VALUE: one beyond 2**53 used to fail every
    GetActionRecommendations of the group (InternalFailure), filtered or not, until the action was overwritten."""
    user, top = "u13", (1 << 63) - 1
    events.put_actions(
        datasetArn=nba["datasets"]["ACTIONS"],
        actions=[{"actionId": "far-future", "properties": f'{{"actionExpirationTimestamp": {top}, "value": {top}}}'}],
    )
    assert "far-future" in {a["actionId"] for a in _actions(runtime, nba, user, numResults=EVERY)}
    valuable = personalize.create_filter(
        name=unique("f"), datasetGroupArn=nba["group"], filterExpression="INCLUDE ActionID WHERE Actions.VALUE > ($V)"
    )["filterArn"]
    kept = _actions(runtime, nba, user, numResults=EVERY, filterArn=valuable, filterValues={"V": str(1 << 62)})
    assert [a["actionId"] for a in kept] == ["far-future"]
    events.put_actions(  # expired since the smallest long: never recommended again
        datasetArn=nba["datasets"]["ACTIONS"],
        actions=[{"actionId": "far-future", "properties": f'{{"actionExpirationTimestamp": {-top - 1}}}'}],
    )
    assert "far-future" not in {a["actionId"] for a in _actions(runtime, nba, user, numResults=EVERY)}


def test_action_filters(nba, personalize, runtime) -> None:
    exclude = personalize.create_filter(
        name=unique("f"),
        datasetGroupArn=nba["group"],
        filterExpression="EXCLUDE ActionID WHERE Actions.CATEGORY IN ($CATEGORY)",
    )["filterArn"]
    include = personalize.create_filter(
        name=unique("f"),
        datasetGroupArn=nba["group"],
        filterExpression='INCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ("NOT_TAKEN")',
    )["filterArn"]
    repeatable = _repeatable(nba)
    user = "u20"
    every = {a["actionId"] for a in _actions(runtime, nba, user, numResults=EVERY)}
    assert every & repeatable
    kept = _actions(runtime, nba, user, numResults=EVERY, filterArn=exclude, filterValues={"CATEGORY": '"repeatable"'})
    assert kept and not {a["actionId"] for a in kept} & repeatable
    declined = {
        r["ACTION_ID"]
        for r in nba["data"].action_interactions.to_pylist()
        if r["USER_ID"] == user and r["EVENT_TYPE"] == "Not Taken"
    }
    assert declined
    only = {a["actionId"] for a in _actions(runtime, nba, user, numResults=EVERY, filterArn=include)}
    assert only and only <= declined
    valuable = personalize.create_filter(
        name=unique("f"),
        datasetGroupArn=nba["group"],
        filterExpression="INCLUDE ActionID WHERE Actions.VALUE > ($VALUE)",
    )["filterArn"]
    values = {r["ACTION_ID"]: r["VALUE"] for r in nba["data"].actions.to_pylist()}
    above = _actions(runtime, nba, user, numResults=EVERY, filterArn=valuable, filterValues={"VALUE": "50"})
    assert above and all(values[a["actionId"]] > 50 for a in above)


def test_action_filter_on_the_current_user(nba, personalize, runtime, events) -> None:
    """IF CurrentUser.FIELD: the expression applies to users whose Users record (here from PutUsers) matches."""
    events.put_users(
        datasetArn=nba["datasets"]["USERS"],
        users=[
            {"userId": "u30", "properties": '{"membership": "premium"}'},
            {"userId": "u31", "properties": '{"membership": "basic"}'},
        ],
    )
    premium_only = personalize.create_filter(
        name=unique("f"),
        datasetGroupArn=nba["group"],
        filterExpression='INCLUDE ActionID WHERE Actions.CATEGORY IN ("repeatable") IF CurrentUser.MEMBERSHIP = $LEVEL',
    )["filterArn"]
    values = {"LEVEL": '"premium"'}
    premium = {
        a["actionId"]
        for a in _actions(runtime, nba, "u30", numResults=EVERY, filterArn=premium_only, filterValues=values)
    }
    assert premium and premium <= _repeatable(nba)
    basic = {
        a["actionId"]
        for a in _actions(runtime, nba, "u31", numResults=EVERY, filterArn=premium_only, filterValues=values)
    }
    assert basic - _repeatable(nba)  # the expression does not apply to a basic member


def test_without_action_interactions_every_score_is_zero(server, nba, personalize, runtime) -> None:
    """As Personalize documents: until action interactions arrive, actions come unpersonalised with scores of 0.0
    (ties broken by VALUE)."""
    path = server.work / f"{unique('actions')}.csv"
    pacsv.write_csv(nba["data"].actions, path)
    group = personalize.create_dataset_group(name=unique("nba0"))["datasetGroupArn"]
    import_dataset(personalize, group, "ACTIONS", synthetic.ACTIONS_SCHEMA, str(path))
    schema = personalize.create_schema(name=unique("ai"), schema=json.dumps(synthetic.ACTION_INTERACTIONS_SCHEMA))
    personalize.create_dataset(
        name=unique("ai"), datasetType="ACTION_INTERACTIONS", datasetGroupArn=group, schemaArn=schema["schemaArn"]
    )
    period = {"featureTransformationParameters": {"action_optimization_period": "21"}}  # Personalize's place for it
    solution = personalize.create_solution(
        name=unique("nba0"), datasetGroupArn=group, recipeArn=RECIPE + NBA, solutionConfig=period
    )["solutionArn"]
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    done = wait_status(personalize.describe_solution_version, "solutionVersion", solutionVersionArn=version)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    assert done["tunedHPOParams"]["algorithmHyperParameters"]["action_optimization_period"] == "21"
    campaign = deploy(personalize, {NBA: version})[NBA]
    actions = runtime.get_action_recommendations(campaignArn=campaign, userId="anyone", numResults=EVERY)["actionList"]
    rows = [r for r in nba["data"].actions.to_pylist() if r["ACTION_ID"] != synthetic.EXPIRED_ACTION]
    assert [a["score"] for a in actions] == [0.0] * len(actions)
    by_value = sorted(enumerate(rows), key=lambda pair: (-pair[1]["VALUE"], pair[0]))  # equal values: dataset order
    assert [a["actionId"] for a in actions] == [r["ACTION_ID"] for _, r in by_value]


def test_bad_input(nba, personalize, runtime, events) -> None:
    tracking, campaign = nba["tracking_id"], nba["campaign"]

    def refused(call, code: str, needle: str, **kwargs) -> None:
        with pytest.raises(ClientError) as err:
            call(**kwargs)
        assert error_code(err) == code, error_message(err)
        assert needle in error_message(err), error_message(err)

    interaction = {"userId": "u1", "sessionId": "s", "eventType": "Taken", "timestamp": time.time()}
    refused(
        events.put_action_interactions,
        "InvalidInputException",
        "actionInteractions.1.actionId 'no-such-action'",
        trackingId=tracking,
        actionInteractions=[{**interaction, "actionId": "no-such-action"}],
    )
    refused(
        events.put_action_interactions,
        "InvalidInputException",
        "eventType",
        trackingId=tracking,
        actionInteractions=[{**interaction, "actionId": "survey", "eventType": "Clicked"}],
    )
    refused(
        events.put_action_interactions,
        "InvalidInputException",
        "reserved",
        trackingId=tracking,
        actionInteractions=[{**interaction, "actionId": "survey", "properties": '{"userId": "x"}'}],
    )
    refused(
        events.put_action_interactions,
        "ResourceNotFoundException",
        "not-a-tracker",
        trackingId="not-a-tracker",
        actionInteractions=[{**interaction, "actionId": "survey"}],
    )
    refused(
        events.put_actions,
        "InvalidInputException",
        "PutActions needs an ACTIONS dataset",
        datasetArn=nba["datasets"]["INTERACTIONS"],
        actions=[{"actionId": "a", "properties": '{"value": 1}'}],
    )
    refused(
        events.put_actions,
        "InvalidInputException",
        "COLOUR",
        datasetArn=nba["datasets"]["ACTIONS"],
        actions=[{"actionId": "a", "properties": '{"colour": "red"}'}],
    )
    refused(
        events.put_actions,
        "InvalidInputException",
        "REPEAT_FREQUENCY",
        datasetArn=nba["datasets"]["ACTIONS"],
        actions=[{"actionId": "a", "properties": '{"repeatFrequency": 31}'}],
    )
    refused(runtime.get_action_recommendations, "ResourceNotFoundException", "campaignArn", campaignArn=campaign + "x")
    refused(
        runtime.get_action_recommendations,
        "InvalidInputException",
        "numResults",
        campaignArn=campaign,
        userId="u1",
        numResults=101,
    )
    refused(runtime.get_action_recommendations, "InvalidInputException", "userId", campaignArn=campaign)
    items_filter = personalize.create_filter(
        name=unique("f"), datasetGroupArn=nba["group"], filterExpression='EXCLUDE ItemID WHERE Items.X IN ("y")'
    )["filterArn"]
    refused(
        runtime.get_action_recommendations,
        "InvalidInputException",
        "ActionID",
        campaignArn=campaign,
        userId="u1",
        filterArn=items_filter,
    )
    refused(
        runtime.get_recommendations,
        "InvalidInputException",
        "GetActionRecommendations",
        campaignArn=campaign,
        userId="u1",
    )
    refused(
        personalize.create_batch_inference_job,
        "InvalidInputException",
        "Next-Best-Action",
        jobName=unique("b"),
        solutionVersionArn=nba["version"],
        jobInput={"s3DataSource": {"path": "s3://bucket/in.json"}},
        jobOutput={"s3DataDestination": {"path": "s3://bucket/out/"}},
        roleArn=ROLE,
    )
    domain = personalize.create_dataset_group(name=unique("vod"), domain="VIDEO_ON_DEMAND")["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("a"), schema=json.dumps(synthetic.ACTIONS_SCHEMA))["schemaArn"]
    refused(
        personalize.create_dataset,
        "InvalidInputException",
        "domain",
        name=unique("a"),
        datasetType="ACTIONS",
        datasetGroupArn=domain,
        schemaArn=schema,
    )
    empty = personalize.create_dataset_group(name=unique("empty"))["datasetGroupArn"]
    solution = personalize.create_solution(
        name=unique("nba"), datasetGroupArn=empty, recipeArn=RECIPE + "aws-next-best-action"
    )["solutionArn"]
    refused(personalize.create_solution_version, "InvalidInputException", "ACTIONS", solutionArn=solution)
    for extra, needle in (
        ({"performHPO": True}, "performHPO"),
        ({"eventType": "Taken"}, "eventType"),
        ({"solutionConfig": {"eventValueThreshold": "1"}}, "solutionConfig.eventValueThreshold"),
        (
            {"solutionConfig": {"featureTransformationParameters": {"action_optimization_period": "0"}}},
            "action_optimization_period",
        ),
        # accepted until training failed ("Singular matrix") or fitted NaN weights that served as ACTIVE
        *(
            (
                {"solutionConfig": {"algorithmHyperParameters": {"ridge_lambda": bad}}},
                f"algorithmHyperParameters.ridge_lambda must be a number from 0.01 to 10000, got '{bad}'",
            )
            for bad in ("0", "-1", "nan", "abc")
        ),
        (
            {"solutionConfig": {"algorithmHyperParameters": {"max_item_features": "1.5"}}},
            "max_item_features must be an integer from 0 to 5000",
        ),
    ):
        refused(
            personalize.create_solution,
            "InvalidInputException",
            needle,
            name=unique("nba"),
            datasetGroupArn=empty,
            recipeArn=RECIPE + "aws-next-best-action",
            **extra,
        )
    recipe = personalize.describe_recipe(recipeArn=RECIPE + "aws-next-best-action")["recipe"]
    assert recipe["recipeType"] == "PERSONALIZED_ACTIONS"
    transformation = personalize.describe_feature_transformation(
        featureTransformationArn=recipe["featureTransformationArn"]
    )["featureTransformation"]
    assert transformation["featureTransformationArn"] == recipe["featureTransformationArn"]


@pytest.mark.parametrize("repeat", ["0", "31", "-3"])
def test_an_import_refuses_a_repeat_frequency_putactions_refuses(server, personalize, repeat: str) -> None:
    """REPEAT_FREQUENCY is 1 to 30 days however the action arrives: the import used to store 0 (repeat at once),
    31 or -3 (read as 0 days) where PutActions refuses them."""
    path = server.work / f"{unique('actions')}.csv"
    path.write_text(
        f"ACTION_ID,VALUE,CATEGORY,ACTION_EXPIRATION_TIMESTAMP,REPEAT_FREQUENCY\nok,1,x,,7\nbad,2,x,,{repeat}\n"
    )
    group = personalize.create_dataset_group(name=unique("repeat"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("a"), schema=json.dumps(synthetic.ACTIONS_SCHEMA))["schemaArn"]
    dataset = personalize.create_dataset(
        name=unique("a"), datasetType="ACTIONS", datasetGroupArn=group, schemaArn=schema
    )["datasetArn"]
    job = personalize.create_dataset_import_job(
        jobName=unique("imp"), datasetArn=dataset, dataSource={"dataLocation": str(path)}
    )["datasetImportJobArn"]
    done = wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
    assert done["status"] == "CREATE FAILED"
    assert done["failureReason"].endswith(
        f"row 2, column REPEAT_FREQUENCY: REPEAT_FREQUENCY is a number of days from 1 to 30, got {repeat}."
    )


def test_training_on_twenty_thousand_actions_keeps_the_thousand_most_recent(server, personalize, runtime) -> None:
    """Personalize trains on at most 1,000 actions, those with the newest interactions. The model grew with the
    square of every action in the dataset: 20,000 actions asked for a 60,000 x 60,000 matrix (29 GB) and
    training exhausted the machine; now the stale actions are left out and the recent one is scored."""
    now, day = int(time.time()), 86400
    actions = server.work / f"{unique('actions')}.csv"
    actions.write_text("ACTION_ID,VALUE\n" + "".join(f"a{n},1\n" for n in range(20_000)))
    rows = ["USER_ID,ACTION_ID,TIMESTAMP,EVENT_TYPE"]
    rows += [f"old{n},a{n},{now - 300 * day + n},Taken" for n in range(2_000)]  # long ago, one each
    rows += [f"u{n},a19999,{now - day + n},{kind}" for n in range(60) for kind in ("Viewed", "Taken")]
    interactions = server.work / f"{unique('action-interactions')}.csv"
    interactions.write_text("\n".join(rows) + "\n")
    schema = avro_schema("Actions", [{"name": "ACTION_ID", "type": "string"}, {"name": "VALUE", "type": "long"}])
    group = personalize.create_dataset_group(name=unique("many"))["datasetGroupArn"]
    import_dataset(personalize, group, "ACTIONS", schema, str(actions))
    import_dataset(personalize, group, "ACTION_INTERACTIONS", synthetic.ACTION_INTERACTIONS_SCHEMA, str(interactions))
    campaign = deploy(personalize, train(personalize, group, [NBA]))[NBA]
    best = runtime.get_action_recommendations(campaignArn=campaign, userId="newcomer", numResults=3)["actionList"]
    assert best[0]["actionId"] == "a19999" and best[0]["score"] > 0


def _export(personalize, dataset: str, dst) -> list[dict]:
    arn = personalize.create_dataset_export_job(
        jobName=unique("exp"),
        datasetArn=dataset,
        ingestionMode="ALL",
        roleArn=ROLE,
        jobOutput={"s3DataDestination": {"path": str(dst)}},
    )["datasetExportJobArn"]
    job = wait_status(personalize.describe_dataset_export_job, "datasetExportJob", datasetExportJobArn=arn)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    (found,) = (dst / job["jobName"]).glob("*.csv")
    with found.open() as handle:
        return list(csv.DictReader(handle))


def test_export_and_user_deletion_cover_action_data(server, nba, personalize, events) -> None:
    """Last: it deletes a user of the group."""
    user, dst = "u299", server.work / unique("export")
    events.put_actions(
        datasetArn=nba["datasets"]["ACTIONS"], actions=[{"actionId": "exported", "properties": '{"value": 3}'}]
    )
    events.put_action_interactions(
        trackingId=nba["tracking_id"],
        actionInteractions=[
            {"actionId": "survey", "userId": user, "sessionId": "s299", "eventType": "Viewed", "timestamp": 5}
        ],
    )
    actions = _export(personalize, nba["datasets"]["ACTIONS"], dst)
    assert {"ACTION_ID": "exported", "VALUE": "3"}.items() <= next(
        r for r in actions if r["ACTION_ID"] == "exported"
    ).items()
    assert len(actions) >= nba["data"].actions.num_rows + 1
    rows = _export(personalize, nba["datasets"]["ACTION_INTERACTIONS"], dst)
    assert {"USER_ID": user, "ACTION_ID": "survey", "EVENT_TYPE": "Viewed", "TIMESTAMP": "5"} in rows
    assert sum(r["USER_ID"] == user for r in rows) > 1  # imported ones too
    ids = dst / "delete.csv"
    ids.write_text(f"USER_ID\n{user}\n")
    arn = personalize.create_data_deletion_job(
        jobName=unique("del"), datasetGroupArn=nba["group"], roleArn=ROLE, dataSource={"dataLocation": str(ids)}
    )["dataDeletionJobArn"]
    done = wait_status(personalize.describe_data_deletion_job, "dataDeletionJob", dataDeletionJobArn=arn)
    assert done["status"] == "COMPLETED", done.get("failureReason")
    assert not [r for r in _export(personalize, nba["datasets"]["ACTION_INTERACTIONS"], dst) if r["USER_ID"] == user]
