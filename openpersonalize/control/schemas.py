"""Schemas: Avro definitions of a dataset's columns, validated as Personalize does."""

from __future__ import annotations

from typing import Any

from ..data.schema import DatasetSchema, SchemaError, parse_schema
from ..store.metadata import Resource
from .base import Call, delete_resource, describe, get_resource, insert_resource, paginate, reject

KIND = "schema"
LABEL = "Schema"


def load_schema(res: Resource) -> DatasetSchema:
    """The parsed form of a stored schema (it was validated when created)."""
    return parse_schema(res.doc["schema"], res.doc.get("domain"))


def create_schema(call: Call) -> dict[str, Any]:
    p = call.params
    try:
        parse_schema(p["schema"], p.get("domain"))
    except SchemaError as exc:
        raise reject(f"Invalid schema: {exc}") from None
    arn = call.arn(KIND, p["name"])
    doc = {"name": p["name"], "schemaArn": arn, "schema": p["schema"], "domain": p.get("domain")}
    insert_resource(call, Resource(arn, KIND, p["name"], None, None, doc), LABEL)
    return {"schemaArn": arn}


def describe_schema(call: Call) -> dict[str, Any]:
    return {"schema": describe(get_resource(call, call.params["schemaArn"], KIND, LABEL))}


def list_schemas(call: Call) -> dict[str, Any]:
    schemas, token = paginate(call, KIND)
    return {"schemas": schemas, "nextToken": token}


def delete_schema(call: Call) -> dict[str, Any]:
    res = get_resource(call, call.params["schemaArn"], KIND, LABEL)
    delete_resource(call, res, LABEL, referenced_by=("dataset", "schemaArn"))
    return {}


OPERATIONS = {
    "CreateSchema": create_schema,
    "DescribeSchema": describe_schema,
    "ListSchemas": list_schemas,
    "DeleteSchema": delete_schema,
}
