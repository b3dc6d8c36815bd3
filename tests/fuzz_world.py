"""Resources a fuzzing session mixes into its requests, so handlers past validation run too.

A dataset group with a tiny interactions + items dataset, campaigns of three recipe types
(user personalization, related items, ranking), filters, an event tracker; a dataset group with
an empty users dataset, empty actions and action interactions datasets, a data deletion job and a
solution (training it fails at once: no data); a VIDEO_ON_DEMAND group with an empty interactions
dataset and a recommender (its training fails at once too); spare resources for the operations that
delete or stop what they name. ``seed_world`` returns the real values by request
member name (ARNs, ids, names, expressions, locations).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fuzz_cases import World

from openpersonalize.data.movielens import INTERACTIONS_SCHEMA, ITEMS_SCHEMA
from openpersonalize.data.synthetic_actions import ACTION_INTERACTIONS_SCHEMA, ACTIONS_SCHEMA
from server_harness import unique, wait_status

RECIPE = "arn:aws:personalize:::recipe/"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
USERS = [f"u{i}" for i in range(60)]
ITEMS = [f"i{i}" for i in range(30)]
GENRES = ["Comedy", "Horror", "Drama|Romance"]
FILTERS = [
    'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")',
    "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)",
    'EXCLUDE ItemID WHERE Items.YEAR > $YEAR | INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")',
]
USERS_SCHEMA = {
    "type": "record",
    "name": "Users",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "USER_ID", "type": "string"}, {"name": "MEMBERSHIP", "type": "string", "categorical": True}],
    "version": "1.0",
}
CAMPAIGNS = {"USER": "aws-user-personalization", "RELATED": "aws-sims", "RANKING": "aws-personalized-ranking"}


def write_data(work: Path) -> tuple[Path, Path]:
    """Deterministic tiny CSVs: 60 users click and watch 20 items each (1,200 rows, over the training minimum)."""
    rows = ["USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP"]
    for u, user in enumerate(USERS):
        for k in range(20):
            item = ITEMS[(u * 7 + k * k) % len(ITEMS)]
            rows.append(f"{user},{item},{('click', 'watch')[k % 2]},{1_600_000_000 + u * 100 + k}")
    items = ["ITEM_ID,GENRE,YEAR"] + [f"{item},{GENRES[i % 3]},{1990 + i}" for i, item in enumerate(ITEMS)]
    interactions_csv, items_csv = work / "fuzz-interactions.csv", work / "fuzz-items.csv"
    interactions_csv.write_text("\n".join(rows) + "\n")
    items_csv.write_text("\n".join(items) + "\n")
    return interactions_csv, items_csv


def _wait_active(describe: Any, key: str, **kwargs: str) -> None:
    res = wait_status(describe, key, timeout=300.0, **kwargs)
    if res["status"] != "ACTIVE":
        raise RuntimeError(f"{key} ended {res['status']}: {res.get('failureReason')}")


def seed_world(p: Any, work: Path | None) -> World:
    """Create the resources with the boto3 client ``p``; real values by request member name.

    Without ``work`` (a directory the server may read) nothing is imported or trained: no campaigns.
    """
    group = p.create_dataset_group(name=unique("fuzz"))["datasetGroupArn"]
    empty_group = p.create_dataset_group(name=unique("fuzz-empty"))["datasetGroupArn"]
    schemas = [json.dumps(INTERACTIONS_SCHEMA), json.dumps(ITEMS_SCHEMA)]
    schema_arns = [p.create_schema(name=unique("s"), schema=s)["schemaArn"] for s in schemas]
    datasets = {
        kind: p.create_dataset(name=unique("d"), datasetType=kind, datasetGroupArn=group, schemaArn=arn)["datasetArn"]
        for kind, arn in zip(("INTERACTIONS", "ITEMS"), schema_arns, strict=True)
    }
    users_schema = json.dumps(USERS_SCHEMA)
    users_schema_arn = p.create_schema(name=unique("s"), schema=users_schema)["schemaArn"]
    users = p.create_dataset(
        name=unique("d"), datasetType="USERS", datasetGroupArn=empty_group, schemaArn=users_schema_arn
    )["datasetArn"]
    actions = {kind: _dataset(p, empty_group, kind, schema) for kind, schema in ACTION_SCHEMAS.items()}
    action_tracking = p.describe_dataset(datasetArn=actions["ACTION_INTERACTIONS"])["dataset"]["trackingId"]
    tracker = p.create_event_tracker(name=unique("t"), datasetGroupArn=group)
    recipes = [r["recipeArn"] for r in p.list_recipes()["recipes"]]
    values: dict[str, list[Any]] = {
        "datasetGroupArn": [group, empty_group],
        "schemaArn": [*schema_arns, users_schema_arn],
        "datasetArn": [*datasets.values(), users, *actions.values()],
        "eventTrackerArn": [tracker["eventTrackerArn"]],
        "metricAttributionArn": [_metric_attribution(p, group, work)],
        "dataDeletionJobArn": [_data_deletion_job(p, empty_group, work)],
        "trackingId": [tracker["trackingId"], action_tracking],
        "actionId": ["a1", "a2"],
        "filterArn": [_filter(p, group, expression) for expression in FILTERS],
        "solutionArn": [_solution(p, empty_group)],
        "recipeArn": recipes,
        "algorithmArn": [p.describe_recipe(recipeArn=arn)["recipe"]["algorithmArn"] for arn in recipes[:3]],
        "schema": [*schemas, users_schema],
        "filterExpression": FILTERS,
        "name": [p.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["name"]],
        "userId": USERS[:3],
        "itemId": ITEMS[:3],
        "inputList": [ITEMS[:5], [*ITEMS[:3], "unknown-item", ITEMS[0]]],
        "filterValues": [{"GENRE": '"Comedy"'}, {"GENRE": '"Horror","Comedy"', "YEAR": "2000"}],
        "properties": ['{"genre": "Comedy", "year": 2001}', '{"membership": "gold"}', "{}"],
        "eventType": ["click", "watch"],
        "sessionId": ["s1"],
        "numResults": [1, 10],
        "maxResults": [1, 100],
    }
    if work is not None:
        values.update(_trained(p, group, datasets, work))
        values["recommenderArn"] = [_recommender(p, work)]
    values["resourceArn"] = [arn for key, arns in values.items() if key.endswith("Arn") for arn in arns]
    return World(values, _expendable(p, work))


def _metric_attribution(p: Any, group: str, work: Path | None) -> str:
    """A group's metric attribution counting clicks (its reports go to ``work`` when there is one)."""
    output: dict[str, Any] = {"roleArn": ROLE}
    if work is not None:
        output["s3DataDestination"] = {"path": str(work / "metrics")}
    metrics = [{"eventType": "click", "metricName": "CLICKS", "expression": "SAMPLECOUNT()"}]
    return p.create_metric_attribution(
        name=unique("ma"), datasetGroupArn=group, metrics=metrics, metricsOutputConfig=output
    )["metricAttributionArn"]


ACTION_SCHEMAS = {"ACTIONS": ACTIONS_SCHEMA, "ACTION_INTERACTIONS": ACTION_INTERACTIONS_SCHEMA}


def _dataset(p: Any, group: str, kind: str, schema: dict[str, Any], domain: str | None = None) -> str:
    """An empty dataset of ``kind`` in ``group`` (its schema of ``domain``, if any)."""
    extra = {"domain": domain} if domain else {}
    schema_arn = p.create_schema(name=unique("s"), schema=json.dumps(schema), **extra)["schemaArn"]
    return p.create_dataset(name=unique("d"), datasetType=kind, datasetGroupArn=group, schemaArn=schema_arn)[
        "datasetArn"
    ]


def _recommender(p: Any, work: Path) -> str:
    """A top-picks recommender of a new VIDEO_ON_DEMAND group of three interactions: its training fails at once."""
    group = p.create_dataset_group(name=unique("fuzz-vod"), domain="VIDEO_ON_DEMAND")["datasetGroupArn"]
    dataset = _dataset(p, group, "INTERACTIONS", INTERACTIONS_SCHEMA, "VIDEO_ON_DEMAND")
    rows = work / f"{unique('fuzz-vod')}.csv"
    rows.write_text("USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n" + "".join(f"u{n},i{n},watch,{n}\n" for n in range(3)))
    job = p.create_dataset_import_job(jobName=unique("imp"), datasetArn=dataset, dataSource={"dataLocation": str(rows)})
    _wait_active(p.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job["datasetImportJobArn"])
    recipe = RECIPE + "aws-vod-top-picks"
    return p.create_recommender(name=unique("rec"), datasetGroupArn=group, recipeArn=recipe)["recommenderArn"]


def _data_deletion_job(p: Any, group: str, work: Path | None) -> str:
    """A data deletion job of ``group`` (deleting two users when the server has ``work`` to read them from)."""
    location = "s3://fuzz-bucket/users.csv"
    if work is not None:
        (work / "fuzz-delete.csv").write_text("USER_ID\nu1\nu2\n")
        location = str(work / "fuzz-delete.csv")
    return p.create_data_deletion_job(
        jobName=unique("del"), datasetGroupArn=group, dataSource={"dataLocation": location}, roleArn=ROLE
    )["dataDeletionJobArn"]


def _filter(p: Any, group: str, expression: str) -> str:
    return p.create_filter(name=unique("f"), datasetGroupArn=group, filterExpression=expression)["filterArn"]


def _solution(p: Any, group: str) -> str:
    """A solution of an empty dataset group: training it fails at once, for want of data."""
    recipe = RECIPE + "aws-popularity-count"
    return p.create_solution(name=unique("sol"), datasetGroupArn=group, recipeArn=recipe)["solutionArn"]


def _expendable(p: Any, work: Path | None) -> dict[str, list[str]]:
    """Resources for the operations that delete or stop what they name to act on."""
    groups = [p.create_dataset_group(name=unique("fuzz-spare"))["datasetGroupArn"] for _ in range(3)]
    schemas = [p.create_schema(name=unique("s"), schema=json.dumps(ITEMS_SCHEMA))["schemaArn"] for _ in range(3)]
    dataset = p.create_dataset(name=unique("d"), datasetType="ITEMS", datasetGroupArn=groups[0], schemaArn=schemas[0])
    spare = {"recommenderArn": [_recommender(p, work)]} if work is not None else {}
    return {
        **spare,
        "datasetGroupArn": groups,
        "schemaArn": schemas,
        "datasetArn": [dataset["datasetArn"]],
        "filterArn": [_filter(p, group, FILTERS[0]) for group in groups],
        "solutionArn": [_solution(p, group) for group in groups],
        "eventTrackerArn": [p.create_event_tracker(name=unique("t"), datasetGroupArn=groups[1])["eventTrackerArn"]],
        "metricAttributionArn": [_metric_attribution(p, groups[2], None)],
    }


def _trained(p: Any, group: str, datasets: dict[str, str], work: Path) -> dict[str, list[Any]]:
    """Import the tiny data and deploy one campaign per recipe type."""
    interactions_csv, items_csv = write_data(work)
    imports = []
    for kind, path in (("INTERACTIONS", interactions_csv), ("ITEMS", items_csv)):
        job = p.create_dataset_import_job(
            jobName=unique("imp"), datasetArn=datasets[kind], dataSource={"dataLocation": str(path)}
        )["datasetImportJobArn"]
        _wait_active(p.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
        imports.append(job)
    versions = {}
    for role, recipe in CAMPAIGNS.items():
        solution = p.create_solution(name=unique(role.lower()), datasetGroupArn=group, recipeArn=RECIPE + recipe)
        versions[role] = p.create_solution_version(solutionArn=solution["solutionArn"])["solutionVersionArn"]
    for arn in versions.values():
        _wait_active(p.describe_solution_version, "solutionVersion", solutionVersionArn=arn)
    campaigns = [
        p.create_campaign(name=unique(role.lower()), solutionVersionArn=arn)["campaignArn"]
        for role, arn in versions.items()
    ]
    for arn in campaigns:
        _wait_active(p.describe_campaign, "campaign", campaignArn=arn)
    return {
        "solutionVersionArn": list(versions.values()),
        "campaignArn": campaigns,
        "datasetImportJobArn": imports,
        "dataLocation": [str(interactions_csv), f"file://{items_csv}", "s3://fuzz-bucket/data.csv"],
    }
