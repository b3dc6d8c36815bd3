"""trainingDataConfig's columns checked against the dataset group's schemas, for solutions and recommenders alike.

A column that is not in its dataset's schema would train as if it were not named, so it is refused with
InvalidInputException naming it; a name that differs from the schema's spelling only in case is taken
with the schema's spelling (what the training selection keeps or drops).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ..errors import InvalidInputException
from ..store.metadata import Resource
from . import schemas
from .base import Control
from .kinds import DATASET

DATASET_TYPES = ("INTERACTIONS", "ITEMS", "USERS")
MEMBERS = ("excludedDatasetColumns", "includedDatasetColumns")


def group_datasets(control: Control, group_arn: str) -> dict[str, Resource]:
    """The group's datasets by type."""
    return {d.doc["datasetType"]: d for d in control.store.children(group_arn, (DATASET.kind,))}


def _columns(control: Control, dataset: Resource) -> dict[str, str]:
    """The dataset's columns: upper case -> as the schema spells them (the snapshot's column)."""
    schema = schemas.load_schema(control.store.get(dataset.doc["schemaArn"]))
    return {f.name.upper(): f.name for f in schema.fields}


def checked_columns(
    control: Control, config: dict[str, Any], present: dict[str, Resource], where: str, always: Collection[str] = ()
) -> dict[str, dict[str, list[str]]]:
    """``config`` (a trainingDataConfig) with every column checked against its dataset in ``present`` and
    spelled as there; ``always`` names columns that are always trained on and may not be named.
    InvalidInputException naming ``where``'s member that is wrong."""
    out: dict[str, dict[str, list[str]]] = {}
    for member in MEMBERS:
        for kind, names in (config.get(member) or {}).items():
            at = f"{where}.{member}.{kind}"
            if kind not in DATASET_TYPES:
                raise InvalidInputException(f"{at}: the dataset type must be one of {', '.join(DATASET_TYPES)}.")
            if kind in out.get(MEMBERS[0], {}):
                raise InvalidInputException(f"{at}: give included or excluded columns for a dataset, not both.")
            if kind not in present:
                raise InvalidInputException(f"{at}: the dataset group has no {kind} dataset.")
            columns = _columns(control, present[kind])
            for name in names:
                if name.upper() in always:
                    raise InvalidInputException(f"{at}: {name!r} is a required column and is always used.")
                if name.upper() not in columns:
                    raise InvalidInputException(f"{at}: {name!r} is not a column of the {kind} dataset.")
            out.setdefault(member, {})[kind] = [columns[name.upper()] for name in names]
    return out
