"""Schemas: Avro definitions of a dataset's columns, validated as Personalize does (Describe/List/Delete: kinds.py)."""

from __future__ import annotations

from typing import Any

from ..data.schema import DatasetSchema, SchemaError, parse_schema
from ..store.metadata import Resource
from .base import Call, insert_resource, reject
from .kinds import SCHEMA


def load_schema(res: Resource) -> DatasetSchema:
    """The parsed form of a stored schema (it was validated when created)."""
    return parse_schema(res.doc["schema"], res.doc.get("domain"))


def create_schema(call: Call) -> dict[str, Any]:
    p = call.params
    try:
        parse_schema(p["schema"], p.get("domain"))
    except SchemaError as exc:
        raise reject(f"Invalid schema: {exc}") from None
    arn = SCHEMA.arn(call, p["name"])
    doc = {"name": p["name"], "schemaArn": arn, "schema": p["schema"], "domain": p.get("domain")}
    insert_resource(call, Resource(arn, SCHEMA.kind, p["name"], None, None, doc), SCHEMA.label)
    return {"schemaArn": arn}


OPERATIONS = {"CreateSchema": create_schema}
