"""Datasets: one per type (INTERACTIONS, ITEMS, USERS) in a dataset group (Describe/List/Delete: kinds.py)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from ..data.schema import SchemaError, validate_for_dataset
from ..store.metadata import Resource
from . import schemas
from .base import ACTIVE, Call, Control, insert_resource, now, reject
from .kinds import DATASET, DATASET_GROUP, SCHEMA

ACTION_TYPES = ("ACTIONS", "ACTION_INTERACTIONS")
SUPPORTED_TYPES = ("INTERACTIONS", "ITEMS", "USERS", *ACTION_TYPES)


def snapshot_path(control: Control, res: Resource) -> Path | None:
    """A local copy of the dataset's current snapshot (fetched from the store), or None before the first import."""
    return control.objects.local_path(res.doc.get("_snapshot"))


def _check_schema(call: Call, schema_arn: str, dataset_type: str, domain: str | None) -> None:
    schema_res = SCHEMA.get(call, schema_arn)
    if (schema_res.doc.get("domain") or None) != (domain or None):
        raise reject(
            f"Schema {schema_arn} has domain {schema_res.doc.get('domain')} but the dataset group has domain {domain}."
        )
    try:
        validate_for_dataset(schemas.load_schema(schema_res), dataset_type)
    except SchemaError as exc:
        raise reject(f"Schema {schema_arn} is not valid for a {dataset_type} dataset: {exc}") from None


def create_dataset(call: Call) -> dict[str, Any]:
    p = call.params
    dataset_type = p["datasetType"].upper()
    if dataset_type not in SUPPORTED_TYPES:
        raise reject(f"datasetType must be one of {', '.join(SUPPORTED_TYPES)}, got {p['datasetType']!r}.")
    group = DATASET_GROUP.get(call, p["datasetGroupArn"])
    if dataset_type in ACTION_TYPES and group.doc.get("domain"):
        raise reject(f"datasetType {dataset_type} cannot be created in a domain dataset group ({group.doc['domain']}).")
    _check_schema(call, p["schemaArn"], dataset_type, group.doc.get("domain"))
    arn = DATASET.arn(call, f"{group.name}/{dataset_type}")
    doc = {
        "name": p["name"],
        "datasetArn": arn,
        "datasetGroupArn": group.arn,
        "datasetType": dataset_type,
        "schemaArn": p["schemaArn"],
    }
    if dataset_type == "ACTION_INTERACTIONS":  # its own tracker, for PutActionInteractions
        doc["trackingId"] = str(uuid.uuid4())
    res = Resource(arn, DATASET.kind, p["name"], group.arn, ACTIVE, doc)
    insert_resource(call, res, f"A {dataset_type} dataset", requires=(p["schemaArn"],))
    return {"datasetArn": arn}


# Personalize replaces the schema of Items and Users datasets only
FIXED_SCHEMA_TYPES = ("INTERACTIONS", *ACTION_TYPES)


def update_dataset(call: Call) -> dict[str, Any]:
    res = DATASET.get(call, call.params["datasetArn"])
    if res.doc["datasetType"] in FIXED_SCHEMA_TYPES:
        raise reject(
            f"datasetArn: the schema of an {res.doc['datasetType']} dataset can't be replaced "
            "(only Items and Users datasets take a new schema)."
        )
    group = call.store.get(res.parent) if res.parent else None
    schema_arn = call.params["schemaArn"]
    _check_schema(call, schema_arn, res.doc["datasetType"], group.doc.get("domain") if group else None)
    _check_compatible(call, res, schema_arn)
    stamp = now()
    update = {
        "schemaArn": schema_arn,
        "status": ACTIVE,
        "creationDateTime": stamp,
        "lastUpdatedDateTime": stamp,
    }
    call.store.update(res.arn, schemaArn=schema_arn, latestDatasetUpdate=update)
    return {"datasetArn": res.arn}


def _check_compatible(call: Call, res: Resource, schema_arn: str) -> None:
    """A new schema may add nullable fields but must keep every existing field, its type and its attributes."""
    old = schemas.load_schema(call.store.get(res.doc["schemaArn"]))
    new = schemas.load_schema(call.store.get(schema_arn))
    for field in old.fields:
        replacement = new.field(field.name)
        if replacement is None:
            raise reject(f"schemaArn: the new schema drops field {field.name}, which the dataset already has.")
        if replacement.type != field.type:
            raise reject(f"schemaArn: field {field.name} changes type from {field.type} to {replacement.type}.")
        for attribute in ("nullable", "categorical", "textual"):
            if getattr(replacement, attribute) != getattr(field, attribute):
                raise reject(f"schemaArn: field {field.name} changes its {attribute} attribute; keep it as it is.")
    for field in new.fields:
        if old.field(field.name) is None and not field.nullable:
            raise reject(f"schemaArn: new field {field.name} must be nullable so existing rows stay valid.")


def forget_data(call: Call, dataset: Resource, _gone: list[Resource]) -> None:
    """After DeleteDataset: its snapshots go too (its live data went in the delete's transaction, kinds.py)."""
    call.control.objects.remove_dataset(dataset.arn)


OPERATIONS = {"CreateDataset": create_dataset, "UpdateDataset": update_dataset}
