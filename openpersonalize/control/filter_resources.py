"""Filter resources: named filter expressions of a dataset group, checked by the filter grammar.

(The grammar itself is the ``filters`` package; Describe/List/Delete come from kinds.py.)
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInputException
from ..filters import FilterSyntaxError, parse_filter
from ..store.metadata import Resource
from .base import ACTIVE, Call, insert_resource
from .kinds import DATASET_GROUP, FILTER


def create_filter(call: Call) -> dict[str, Any]:
    p = call.params
    group = DATASET_GROUP.get(call, p["datasetGroupArn"])
    try:
        parse_filter(p["filterExpression"])
    except FilterSyntaxError as exc:
        raise InvalidInputException(f"filterExpression: {exc}") from None
    arn = FILTER.arn(call, p["name"])
    doc = {
        "name": p["name"],
        "filterArn": arn,
        "datasetGroupArn": group.arn,
        "filterExpression": p["filterExpression"],
    }
    insert_resource(call, Resource(arn, FILTER.kind, p["name"], group.arn, ACTIVE, doc), FILTER.label)
    return {"filterArn": arn}


OPERATIONS = {"CreateFilter": create_filter}
