"""Dataset groups: the container of datasets, solutions, filters and trackers."""

from __future__ import annotations

from typing import Any

from ..store.metadata import Resource
from .base import ACTIVE, Call, delete_resource, describe, get_resource, insert_resource, paginate

KIND = "dataset-group"
LABEL = "Dataset group"


def create_dataset_group(call: Call) -> dict[str, Any]:
    p = call.params
    arn = call.arn(KIND, p["name"])
    doc = {
        "name": p["name"],
        "datasetGroupArn": arn,
        "roleArn": p.get("roleArn"),
        "kmsKeyArn": p.get("kmsKeyArn"),
        "domain": p.get("domain"),
    }
    insert_resource(call, Resource(arn, KIND, p["name"], None, ACTIVE, doc), LABEL)
    return {"datasetGroupArn": arn, "domain": p.get("domain")}


def describe_dataset_group(call: Call) -> dict[str, Any]:
    return {"datasetGroup": describe(get_resource(call, call.params["datasetGroupArn"], KIND, LABEL))}


def list_dataset_groups(call: Call) -> dict[str, Any]:
    groups, token = paginate(call, KIND)
    return {"datasetGroups": groups, "nextToken": token}


def delete_dataset_group(call: Call) -> dict[str, Any]:
    res = get_resource(call, call.params["datasetGroupArn"], KIND, LABEL)
    delete_resource(call, res, LABEL)
    return {}


OPERATIONS = {
    "CreateDatasetGroup": create_dataset_group,
    "DescribeDatasetGroup": describe_dataset_group,
    "ListDatasetGroups": list_dataset_groups,
    "DeleteDatasetGroup": delete_dataset_group,
}
