"""Resources a fuzzing session mixes into its requests, so handlers past validation run too.

A dataset group with a tiny interactions + items dataset, campaigns of three recipe types
(user personalization, related items, ranking), filters, an event tracker, and an empty
dataset group with a solution (training it fails at once: no data), and spare resources for
the operations that delete what they name. ``seed_world`` returns the real values by request
member name (ARNs, ids, names, expressions, locations).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from fuzz_cases import World

RECIPE = "arn:aws:personalize:::recipe/"
INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
    ],
    "version": "1.0",
}
ITEMS_SCHEMA = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "GENRE", "type": "string", "categorical": True},
        {"name": "YEAR", "type": ["null", "int"]},
    ],
    "version": "1.0",
}
USERS = [f"u{i}" for i in range(60)]
ITEMS = [f"i{i}" for i in range(30)]
GENRES = ["Comedy", "Horror", "Drama|Romance"]
FILTERS = [
    'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")',
    "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)",
    'EXCLUDE ItemID WHERE Items.YEAR > $YEAR | INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")',
]
CAMPAIGNS = {"USER": "aws-user-personalization", "RELATED": "aws-sims", "RANKING": "aws-personalized-ranking"}


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


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


def _wait(describe, key: str, timeout: float = 300.0, **kwargs: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = describe(**kwargs)[key]
        if res["status"] not in ("CREATE PENDING", "CREATE IN_PROGRESS"):
            if res["status"] != "ACTIVE":
                raise RuntimeError(f"{key} ended {res['status']}: {res.get('failureReason')}")
            return res
        time.sleep(0.2)
    raise TimeoutError(f"{key} still pending after {timeout} s")


def seed_world(p: Any, work: Path | None) -> World:
    """Create the resources with the boto3 client ``p``; real values by request member name.

    Without ``work`` (a directory the server may read) nothing is imported or trained: no campaigns.
    """
    group = p.create_dataset_group(name=_name("fuzz"))["datasetGroupArn"]
    empty_group = p.create_dataset_group(name=_name("fuzz-empty"))["datasetGroupArn"]
    schemas = [json.dumps(INTERACTIONS_SCHEMA), json.dumps(ITEMS_SCHEMA)]
    schema_arns = [p.create_schema(name=_name("s"), schema=s)["schemaArn"] for s in schemas]
    datasets = {
        kind: p.create_dataset(name=_name("d"), datasetType=kind, datasetGroupArn=group, schemaArn=arn)["datasetArn"]
        for kind, arn in zip(("INTERACTIONS", "ITEMS"), schema_arns, strict=True)
    }
    tracker = p.create_event_tracker(name=_name("t"), datasetGroupArn=group)
    recipes = [r["recipeArn"] for r in p.list_recipes()["recipes"]]
    values: dict[str, list[Any]] = {
        "datasetGroupArn": [group, empty_group],
        "schemaArn": schema_arns,
        "datasetArn": list(datasets.values()),
        "eventTrackerArn": [tracker["eventTrackerArn"]],
        "trackingId": [tracker["trackingId"]],
        "filterArn": [_filter(p, group, expression) for expression in FILTERS],
        "solutionArn": [_solution(p, empty_group)],
        "recipeArn": recipes,
        "algorithmArn": [p.describe_recipe(recipeArn=arn)["recipe"]["algorithmArn"] for arn in recipes[:3]],
        "schema": schemas,
        "filterExpression": FILTERS,
        "name": [p.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["name"]],
        "userId": USERS[:3],
        "itemId": ITEMS[:3],
        "inputList": [ITEMS[:5], [*ITEMS[:3], "unknown-item", ITEMS[0]]],
        "filterValues": [{"GENRE": '"Comedy"'}, {"GENRE": '"Horror","Comedy"', "YEAR": "2000"}],
        "properties": ['{"genre": "Comedy", "year": 2001}', "{}"],
        "eventType": ["click", "watch"],
        "sessionId": ["s1"],
        "numResults": [1, 10],
        "maxResults": [1, 100],
    }
    if work is not None:
        values.update(_trained(p, group, datasets, work))
    values["resourceArn"] = [arn for key, arns in values.items() if key.endswith("Arn") for arn in arns]
    return World(values, _expendable(p))


def _filter(p: Any, group: str, expression: str) -> str:
    return p.create_filter(name=_name("f"), datasetGroupArn=group, filterExpression=expression)["filterArn"]


def _solution(p: Any, group: str) -> str:
    """A solution of an empty dataset group: training it fails at once, for want of data."""
    recipe = RECIPE + "aws-popularity-count"
    return p.create_solution(name=_name("sol"), datasetGroupArn=group, recipeArn=recipe)["solutionArn"]


def _expendable(p: Any) -> dict[str, list[str]]:
    """Resources for the operations that delete or stop what they name to act on."""
    groups = [p.create_dataset_group(name=_name("fuzz-spare"))["datasetGroupArn"] for _ in range(3)]
    schemas = [p.create_schema(name=_name("s"), schema=json.dumps(ITEMS_SCHEMA))["schemaArn"] for _ in range(3)]
    dataset = p.create_dataset(name=_name("d"), datasetType="ITEMS", datasetGroupArn=groups[0], schemaArn=schemas[0])
    return {
        "datasetGroupArn": groups,
        "schemaArn": schemas,
        "datasetArn": [dataset["datasetArn"]],
        "filterArn": [_filter(p, group, FILTERS[0]) for group in groups],
        "solutionArn": [_solution(p, group) for group in groups],
        "eventTrackerArn": [p.create_event_tracker(name=_name("t"), datasetGroupArn=groups[1])["eventTrackerArn"]],
    }


def _trained(p: Any, group: str, datasets: dict[str, str], work: Path) -> dict[str, list[Any]]:
    """Import the tiny data and deploy one campaign per recipe type."""
    interactions_csv, items_csv = write_data(work)
    imports = []
    for kind, path in (("INTERACTIONS", interactions_csv), ("ITEMS", items_csv)):
        job = p.create_dataset_import_job(
            jobName=_name("imp"), datasetArn=datasets[kind], dataSource={"dataLocation": str(path)}
        )["datasetImportJobArn"]
        _wait(p.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
        imports.append(job)
    versions = {}
    for role, recipe in CAMPAIGNS.items():
        solution = p.create_solution(name=_name(role.lower()), datasetGroupArn=group, recipeArn=RECIPE + recipe)
        versions[role] = p.create_solution_version(solutionArn=solution["solutionArn"])["solutionVersionArn"]
    for arn in versions.values():
        _wait(p.describe_solution_version, "solutionVersion", solutionVersionArn=arn)
    campaigns = [
        p.create_campaign(name=_name(role.lower()), solutionVersionArn=arn)["campaignArn"]
        for role, arn in versions.items()
    ]
    for arn in campaigns:
        _wait(p.describe_campaign, "campaign", campaignArn=arn)
    return {
        "solutionVersionArn": list(versions.values()),
        "campaignArn": campaigns,
        "datasetImportJobArn": imports,
        "dataLocation": [str(interactions_csv), f"file://{items_csv}", "s3://fuzz-bucket/data.csv"],
    }
