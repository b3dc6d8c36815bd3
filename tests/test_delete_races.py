"""Deleting a parent while children are created in it never leaves an orphan (over HTTP)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial

from botocore.exceptions import ClientError

from helpers import concurrently
from openpersonalize.data import movielens
from server_harness import unique

ROUNDS = 15
EXPRESSION = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")'
SIMS = "arn:aws:personalize:::recipe/aws-sims"


def _all(personalize, operation: str, key: str) -> list[dict]:
    return [item for page in personalize.get_paginator(operation).paginate() for item in page[key]]


def _children(personalize, group: str) -> list[str]:
    """Every dataset, solution, filter and event tracker naming ``group``, found without asking the group."""
    found = []
    for operation, key, describe, arn_key, member in (
        ("list_datasets", "datasets", "describe_dataset", "datasetArn", "dataset"),
        ("list_solutions", "solutions", "describe_solution", "solutionArn", "solution"),
        ("list_filters", "Filters", "describe_filter", "filterArn", "filter"),
        ("list_event_trackers", "eventTrackers", "describe_event_tracker", "eventTrackerArn", "eventTracker"),
    ):
        for summary in _all(personalize, operation, key):
            arn = summary[arn_key]
            if getattr(personalize, describe)(**{arn_key: arn})[member]["datasetGroupArn"] == group:
                found.append(arn)
    return found


def _delete(personalize, arn: str) -> None:
    kind = arn.split(":")[5].split("/")[0]
    operation, key = {
        "dataset": ("delete_dataset", "datasetArn"),
        "solution": ("delete_solution", "solutionArn"),
        "filter": ("delete_filter", "filterArn"),
        "event-tracker": ("delete_event_tracker", "eventTrackerArn"),
    }[kind]
    getattr(personalize, operation)(**{key: arn})


def _create_dataset(personalize, group: str, schema: str) -> Callable[[], dict]:
    return partial(
        personalize.create_dataset,
        name=unique("d"),
        datasetType="INTERACTIONS",
        datasetGroupArn=group,
        schemaArn=schema,
    )


def _delete_until_gone(personalize, group: str) -> Callable[[], str]:
    def delete() -> str:
        for _ in range(50):  # keep trying while the creators run: the race is the point
            try:
                personalize.delete_dataset_group(datasetGroupArn=group)
                return "deleted"
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceInUseException":
                    raise
        return "in use"

    return delete


def test_group_delete_racing_child_creates_leaves_no_orphans(personalize):
    name = unique("race")
    schema = personalize.create_schema(name=unique("s"), schema=json.dumps(movielens.INTERACTIONS_SCHEMA))["schemaArn"]
    deletes_won = 0
    for _ in range(ROUNDS):
        group = personalize.create_dataset_group(name=name)["datasetGroupArn"]
        *created, deleted = concurrently(
            _create_dataset(personalize, group, schema),
            partial(personalize.create_solution, name=unique("s"), datasetGroupArn=group, recipeArn=SIMS),
            partial(personalize.create_filter, name=unique("f"), datasetGroupArn=group, filterExpression=EXPRESSION),
            partial(personalize.create_event_tracker, name=unique("t"), datasetGroupArn=group),
            _delete_until_gone(personalize, group),
        )
        assert all(isinstance(c, dict) or c == "ResourceNotFoundException" for c in created), created
        assert deleted in ("deleted", "in use"), deleted
        if deleted == "deleted":
            deletes_won += 1
            assert _children(personalize, group) == [], "children outlived their deleted group"
        else:
            for arn in _children(personalize, group):
                _delete(personalize, arn)
            personalize.delete_dataset_group(datasetGroupArn=group)
        recreated = personalize.create_dataset_group(name=name)["datasetGroupArn"]
        assert recreated == group
        assert personalize.list_datasets(datasetGroupArn=recreated)["datasets"] == []
        assert personalize.list_solutions(datasetGroupArn=recreated)["solutions"] == []
        assert personalize.list_filters(datasetGroupArn=recreated)["Filters"] == []
        assert personalize.list_event_trackers(datasetGroupArn=recreated)["eventTrackers"] == []
        personalize.delete_dataset_group(datasetGroupArn=recreated)
    assert deletes_won, "the delete never won a round: the race was not exercised"


def test_schema_delete_racing_dataset_create_leaves_no_dangling_schema(personalize):
    for _ in range(ROUNDS):
        group = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
        schema = personalize.create_schema(name=unique("s"), schema=json.dumps(movielens.INTERACTIONS_SCHEMA))
        schema_arn = schema["schemaArn"]
        dataset, deleted = concurrently(
            _create_dataset(personalize, group, schema_arn),
            partial(personalize.delete_schema, schemaArn=schema_arn),
        )
        if isinstance(deleted, dict):
            assert dataset == "ResourceNotFoundException", dataset
        else:
            assert deleted == "ResourceInUseException", deleted
            assert isinstance(dataset, dict), dataset
            personalize.delete_dataset(datasetArn=dataset["datasetArn"])
            personalize.delete_schema(schemaArn=schema_arn)
        personalize.delete_dataset_group(datasetGroupArn=group)
