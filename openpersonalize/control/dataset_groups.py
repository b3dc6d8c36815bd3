"""Dataset groups: the container of datasets, solutions, filters and trackers (Describe/List/Delete: kinds.py)."""

from __future__ import annotations

from typing import Any

from ..store.metadata import Resource
from .base import ACTIVE, Call, insert_resource
from .kinds import DATASET_GROUP


def create_dataset_group(call: Call) -> dict[str, Any]:
    p = call.params
    arn = DATASET_GROUP.arn(call, p["name"])
    doc = {
        "name": p["name"],
        "datasetGroupArn": arn,
        "roleArn": p.get("roleArn"),
        "kmsKeyArn": p.get("kmsKeyArn"),
        "domain": p.get("domain"),
    }
    insert_resource(call, Resource(arn, DATASET_GROUP.kind, p["name"], None, ACTIVE, doc), DATASET_GROUP.label)
    return {"datasetGroupArn": arn, "domain": p.get("domain")}


OPERATIONS = {"CreateDatasetGroup": create_dataset_group}
