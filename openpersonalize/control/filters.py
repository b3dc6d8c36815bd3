"""Filters: named filter expressions of a dataset group, checked by the filter grammar."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInputException
from ..filters import FilterSyntaxError, parse_filter
from ..store.metadata import Resource
from . import dataset_groups
from .base import ACTIVE, Call, describe, get_resource, insert_resource, paginate

KIND = "filter"
LABEL = "Filter"


def create_filter(call: Call) -> dict[str, Any]:
    p = call.params
    group = get_resource(call, p["datasetGroupArn"], dataset_groups.KIND, dataset_groups.LABEL)
    try:
        parse_filter(p["filterExpression"])
    except FilterSyntaxError as exc:
        raise InvalidInputException(f"filterExpression: {exc}") from None
    arn = call.arn(KIND, p["name"])
    doc = {
        "name": p["name"],
        "filterArn": arn,
        "datasetGroupArn": group.arn,
        "filterExpression": p["filterExpression"],
    }
    insert_resource(call, Resource(arn, KIND, p["name"], group.arn, ACTIVE, doc), LABEL)
    return {"filterArn": arn}


def describe_filter(call: Call) -> dict[str, Any]:
    return {"filter": describe(get_resource(call, call.params["filterArn"], KIND, LABEL))}


def list_filters(call: Call) -> dict[str, Any]:
    parent = call.params.get("datasetGroupArn")
    if parent:
        get_resource(call, parent, dataset_groups.KIND, dataset_groups.LABEL)
    items, token = paginate(call, KIND, parent=parent)
    return {"Filters": items, "nextToken": token}


def delete_filter(call: Call) -> dict[str, Any]:
    res = get_resource(call, call.params["filterArn"], KIND, LABEL)
    call.store.delete(res.arn)
    return {}


OPERATIONS = {
    "CreateFilter": create_filter,
    "DescribeFilter": describe_filter,
    "ListFilters": list_filters,
    "DeleteFilter": delete_filter,
}
