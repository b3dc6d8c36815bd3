"""Filter resources: named filter expressions of a dataset group, checked by the filter grammar and the group's schemas.

A malformed expression is refused at once (InvalidInputException). One that names a field its dataset's
schema lacks, or a boolean or textual field, is created CREATE FAILED with the reason, as Personalize reports a
filter that does not fit the group's data (``Filter.failureReason``); requests and jobs refuse a filter that
is not ACTIVE.
(The grammar itself is the ``filters`` package; Describe/List/Delete come from kinds.py.)
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInputException
from ..filters import FilterSyntaxError, parse_filter
from ..filters.model import FilterExpr
from ..store.metadata import Resource
from . import schemas
from .base import ACTIVE, CREATE_FAILED, Call, Control, insert_resource
from .kinds import DATASET_GROUP, FILTER
from .training_columns import group_datasets

# the dataset whose schema holds a filter dataset's fields (Interactions: EVENT_TYPE only, checked by the grammar)
_SCHEMA_OF = {"Items": "ITEMS", "CurrentItem": "ITEMS", "Users": "USERS", "CurrentUser": "USERS", "Actions": "ACTIONS"}


def unusable_field(control: Control, group_arn: str, expr: FilterExpr) -> str | None:
    """Why ``expr`` cannot filter the group's data (None: every field fits).

    A field must be in its dataset's schema (case-insensitively, as filters apply them), and must be neither
    boolean nor textual: Personalize's filter guidelines refuse filters on boolean fields and on unstructured
    textual metadata. A dataset the group does not have yet is not checked.
    """
    present = group_datasets(control, group_arn)
    for ref in sorted(expr.fields, key=str):
        kind = _SCHEMA_OF.get(ref.dataset)
        dataset = present.get(kind) if kind else None
        if dataset is None:
            continue
        schema = schemas.load_schema(control.store.get(dataset.doc["schemaArn"]))
        spec = schema.field(ref.name)
        if spec is None:
            known = ", ".join(schema.names)
            return f"Invalid filter expression: {ref} is not a field of the {kind} dataset (its fields: {known})."
        if spec.type == "boolean":
            return (
                f"Invalid filter expression: {ref} is a boolean field; filters can't use boolean fields "
                '(store "True"/"False" strings or 0/1 numbers instead).'
            )
        if spec.textual:
            return f"Invalid filter expression: {ref} is a textual field; filters can't use unstructured text."
    return None


def create_filter(call: Call) -> dict[str, Any]:
    p = call.params
    group = DATASET_GROUP.get(call, p["datasetGroupArn"])
    try:
        expr = parse_filter(p["filterExpression"])
    except FilterSyntaxError as exc:
        raise InvalidInputException(f"filterExpression: {exc}") from None
    if expr.target == "ActionID" and group.doc.get("domain"):
        raise InvalidInputException(
            f"filterExpression: a domain dataset group ({group.doc['domain']}) has no actions to filter."
        )
    arn = FILTER.arn(call, p["name"])
    doc = {
        "name": p["name"],
        "filterArn": arn,
        "datasetGroupArn": group.arn,
        "filterExpression": p["filterExpression"],
    }
    failure = unusable_field(call.control, group.arn, expr)
    if failure is not None:
        doc["failureReason"] = failure
    status = ACTIVE if failure is None else CREATE_FAILED
    insert_resource(call, Resource(arn, FILTER.kind, p["name"], group.arn, status, doc), FILTER.label)
    return {"filterArn": arn}


OPERATIONS = {"CreateFilter": create_filter}
