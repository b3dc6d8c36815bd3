"""Avro dataset schemas, validated the way Amazon Personalize validates them.

``parse_schema`` mirrors what CreateSchema accepts (flat Avro records with primitive
field types, Personalize's ``categorical``/``textual`` attributes, reserved field names
with fixed types, domain rules). ``validate_for_dataset`` mirrors what CreateDataset
checks when a schema is attached to a dataset of a given type. Every error is a
``SchemaError`` whose message names the offending field, because it is shown verbatim
to the API caller.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import fastavro
import pyarrow as pa

from .. import nesting

PRIMITIVE_TYPES = ("string", "int", "long", "float", "double", "boolean")
NUMERIC_TYPES = frozenset({"int", "long", "float", "double"})
DATASET_TYPES = ("INTERACTIONS", "ITEMS", "USERS", "ACTIONS", "ACTION_INTERACTIONS")
SUPPORTED_DATASET_TYPES = DATASET_TYPES
DOMAINS = ("ECOMMERCE", "VIDEO_ON_DEMAND")
MAX_FIELDS = 1000
ID_MAX_LENGTH = 256
CATEGORICAL_MAX_LENGTH = 1000

_AVRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
}


def avro_schema(name: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    """A schema document as CreateSchema takes it (JSON-encoded): an Avro record of ``fields`` in Personalize's
    namespace."""
    return {
        "type": "record",
        "name": name,
        "namespace": "com.amazonaws.personalize.schema",
        "fields": fields,
        "version": "1.0",
    }


class SchemaError(ValueError):
    """A schema Personalize would reject; the message is shown to the API user."""


@dataclass(frozen=True)
class FieldSpec:
    """One flat schema field: primitive type plus Personalize's attributes."""

    name: str
    type: str
    nullable: bool = False
    categorical: bool = False
    textual: bool = False

    @property
    def arrow_type(self) -> pa.DataType:
        """The Parquet/Arrow type this field is stored as."""
        return ARROW_TYPES[self.type]


@dataclass(frozen=True)
class DatasetSchema:
    """A validated schema: its fields in declaration order (and the domain, if any)."""

    fields: tuple[FieldSpec, ...]
    domain: str | None = None

    def field(self, name: str) -> FieldSpec | None:
        """The field called ``name`` (case-insensitive), or None."""
        wanted = name.upper()
        for f in self.fields:
            if f.name.upper() == wanted:
                return f
        return None

    @property
    def names(self) -> list[str]:
        """Field names in declaration order."""
        return [f.name for f in self.fields]

    @property
    def dataset_type(self) -> str:
        """The dataset type the id fields tell (CreateDataset keeps schema and type consistent)."""
        has_user, has_item = self.field("USER_ID") is not None, self.field("ITEM_ID") is not None
        if self.field("ACTION_ID") is not None:
            return "ACTION_INTERACTIONS" if has_user else "ACTIONS"
        if has_user and has_item:
            return "INTERACTIONS"
        return "ITEMS" if has_item else "USERS"

    def may_be_missing(self, f: FieldSpec) -> bool:
        """Whether a row may lack ``f``'s value: the field is nullable, or metadata (imports store an
        unreadable metadata value as missing), or an Items CREATION_TIMESTAMP (inferred when missing)."""
        dataset_type = self.dataset_type
        if f.nullable or is_metadata(f, dataset_type, self.domain):
            return True
        return dataset_type == "ITEMS" and f.name.upper() == "CREATION_TIMESTAMP"

    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema of this dataset's snapshot files (fields that may be missing are nullable)."""
        return pa.schema([pa.field(f.name, f.arrow_type, nullable=self.may_be_missing(f)) for f in self.fields])


# --- reserved names -------------------------------------------------------------------------------
# name -> (allowed types, may be nullable, must be categorical (True) / must not be (False))
_Rule = tuple[frozenset[str], bool, bool]
_STR = frozenset({"string"})
_RESERVED: dict[str, _Rule] = {
    "USER_ID": (_STR, False, False),
    "ITEM_ID": (_STR, False, False),
    "TIMESTAMP": (frozenset({"long", "int"}), False, False),
    "EVENT_TYPE": (_STR, False, False),
    "EVENT_VALUE": (NUMERIC_TYPES, True, False),
    "IMPRESSION": (_STR, True, False),
    "RECOMMENDATION_ID": (_STR, True, False),
    "EVENT_ATTRIBUTION_SOURCE": (_STR, True, False),
    "CREATION_TIMESTAMP": (frozenset({"long", "int"}), False, False),
    "ACTION_ID": (_STR, False, False),
    "ACTION_EXPIRATION_TIMESTAMP": (frozenset({"long", "int"}), True, False),
    "REPEAT_FREQUENCY": (frozenset({"long", "int"}), True, False),
}
_ACTION_FIELDS = frozenset({"ACTION_ID", "ACTION_EXPIRATION_TIMESTAMP", "REPEAT_FREQUENCY"})
# Interactions fields that are reserved keywords rather than metadata.
_INTERACTION_RESERVED = frozenset(_RESERVED) - {"CREATION_TIMESTAMP"} - _ACTION_FIELDS
# Actions fields with a meaning for Next-Best-Action (VALUE is reserved only in an Actions schema).
_ACTIONS_RESERVED = frozenset(
    {"ACTION_ID", "ACTION_EXPIRATION_TIMESTAMP", "REPEAT_FREQUENCY", "VALUE", "CREATION_TIMESTAMP"}
)

# Domain reserved keywords: name -> (types, nullable allowed, categorical required, textual required).
_DomainRule = tuple[frozenset[str], bool, bool, bool]
_FLOAT = frozenset({"float", "double"})
_CAT: _DomainRule = (_STR, True, True, False)
_DOMAIN_RESERVED: dict[str, dict[str, _DomainRule]] = {
    "ECOMMERCE": {
        "PRICE": (_FLOAT, False, False, False),
        "CATEGORY_L1": (_STR, False, True, False),
        "CATEGORY_L2": _CAT,
        "CATEGORY_L3": _CAT,
        "PRODUCT_DESCRIPTION": (_STR, True, False, True),
        "AGE_GROUP": _CAT,
        "ADULT": _CAT,
        "GENDER": _CAT,
        "CREATION_TIMESTAMP": (frozenset({"long", "int", "float", "double"}), False, False, False),
    },
    "VIDEO_ON_DEMAND": {
        "GENRES": (_STR, False, True, False),
        "PRICE": (_FLOAT, True, False, False),
        "SUBSCRIPTION_MODEL": _CAT,
    },
}
_DOMAIN_REQUIRED: dict[str, dict[str, tuple[str, ...]]] = {
    "ECOMMERCE": {
        "INTERACTIONS": ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"),
        "ITEMS": ("ITEM_ID", "PRICE", "CATEGORY_L1"),
        "USERS": ("USER_ID",),
    },
    "VIDEO_ON_DEMAND": {
        "INTERACTIONS": ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"),
        "ITEMS": ("ITEM_ID", "CREATION_TIMESTAMP", "GENRES"),
        "USERS": ("USER_ID",),
    },
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "INTERACTIONS": ("USER_ID", "ITEM_ID", "TIMESTAMP"),
    "ITEMS": ("ITEM_ID",),
    "USERS": ("USER_ID",),
    "ACTIONS": ("ACTION_ID",),
    "ACTION_INTERACTIONS": ("USER_ID", "ACTION_ID", "TIMESTAMP", "EVENT_TYPE"),
}
_MAX_METADATA = {"INTERACTIONS": 5, "ITEMS": 100, "USERS": 25, "ACTION_INTERACTIONS": 5}
MAX_ACTION_COLUMNS = 10  # Personalize: an Actions dataset has at most 10 columns
MAX_REPEAT_FREQUENCY_DAYS = 30


def _parse_type(name: str, avro_type: Any) -> tuple[str, bool]:
    """(primitive type, nullable) of one field's Avro type, or SchemaError naming the field."""
    if isinstance(avro_type, str):
        if avro_type in PRIMITIVE_TYPES:
            return avro_type, False
        if avro_type == "null":
            raise SchemaError(f"Field {name}: type 'null' alone is not allowed; use [\"null\", <type>]")
        raise SchemaError(
            f"Field {name}: unsupported type {avro_type!r}; allowed types are "
            f"{', '.join(PRIMITIVE_TYPES)} or a union of null with one of them"
        )
    if isinstance(avro_type, list):
        members = [m["type"] if isinstance(m, dict) and isinstance(m.get("type"), str) else m for m in avro_type]
        non_null = [m for m in members if m != "null"]
        if len(members) == 2 and len(non_null) == 1 and isinstance(non_null[0], str):
            if non_null[0] in PRIMITIVE_TYPES:
                return non_null[0], True
        raise SchemaError(
            f'Field {name}: unsupported union {json.dumps(avro_type)}; only a union of "null" with one '
            f"of {', '.join(PRIMITIVE_TYPES)} is allowed"
        )
    if isinstance(avro_type, dict):
        inner = avro_type.get("type")
        if isinstance(inner, str) and inner in PRIMITIVE_TYPES and not avro_type.get("logicalType"):
            return inner, False
        raise SchemaError(
            f"Field {name}: complex type {inner!r} is not supported; Personalize schemas must be flat "
            "(no records, arrays, maps, enums or fixed)"
        )
    raise SchemaError(f"Field {name}: invalid type {json.dumps(avro_type)}")


def _bool_attr(name: str, raw: dict[str, Any], attr: str) -> bool:
    value = raw.get(attr, False)
    if not isinstance(value, bool):
        raise SchemaError(f"Field {name}: attribute {attr!r} must be true or false, got {json.dumps(value)}")
    return value


def _check_reserved(f: FieldSpec, domain: str | None) -> None:
    upper = f.name.upper()
    rule = _RESERVED.get(upper)
    if rule is not None:
        types, nullable_ok, _ = rule
        if f.type not in types:
            raise SchemaError(
                f"Field {f.name}: reserved field must be of type {' or '.join(sorted(types))}, not {f.type}"
            )
        if f.nullable and not nullable_ok:
            raise SchemaError(f"Field {f.name}: reserved field cannot be nullable")
        if f.categorical:
            raise SchemaError(f"Field {f.name}: reserved field cannot be categorical")
        if f.textual:
            raise SchemaError(f"Field {f.name}: reserved field cannot be textual")
    if domain is None:
        return
    drule = _DOMAIN_RESERVED[domain].get(upper)
    if drule is None:
        return
    types, nullable_ok, categorical, textual = drule
    if f.type not in types:
        raise SchemaError(
            f"Field {f.name}: reserved field of the {domain} domain must be of type "
            f"{' or '.join(sorted(types))}, not {f.type}"
        )
    if f.nullable and not nullable_ok:
        raise SchemaError(f"Field {f.name}: reserved field of the {domain} domain cannot be nullable")
    if categorical and not f.categorical:
        raise SchemaError(f"Field {f.name}: reserved field of the {domain} domain must be categorical")
    if textual and not f.textual:
        raise SchemaError(f"Field {f.name}: reserved field of the {domain} domain must be textual")
    if not categorical and f.categorical:
        raise SchemaError(f"Field {f.name}: reserved field of the {domain} domain cannot be categorical")


def parse_schema(schema_json: str, domain: str | None = None) -> DatasetSchema:
    """Validate a schema as CreateSchema does and return its fields; raise SchemaError if invalid."""
    if domain is not None and domain not in DOMAINS:
        raise SchemaError(f"Domain {domain!r} is not valid; expected one of {', '.join(DOMAINS)}")
    try:
        doc = nesting.loads(schema_json)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"Schema is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") != "record":
        raise SchemaError('Schema must be an Avro record: {"type": "record", "name": ..., "fields": [...]}')
    if not isinstance(doc.get("name"), str) or not doc["name"]:
        raise SchemaError('Schema record must have a non-empty "name"')
    raw_fields = doc.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise SchemaError('Schema record must have a non-empty "fields" list')
    if len(raw_fields) > MAX_FIELDS:
        raise SchemaError(f"Schema has {len(raw_fields)} fields; at most {MAX_FIELDS} are allowed")

    fields: list[FieldSpec] = []
    seen: dict[str, str] = {}
    for position, raw in enumerate(raw_fields, start=1):
        if not isinstance(raw, dict):
            raise SchemaError(f'Field #{position} must be a JSON object with "name" and "type"')
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise SchemaError(f'Field #{position} has no "name"')
        if not _AVRO_NAME.match(name):
            raise SchemaError(
                f"Field {name!r}: invalid name; names must start with a letter or underscore and contain "
                "only letters, digits and underscores"
            )
        # Personalize: names must be unique ignoring case and underscores (GENRES_1 vs GENRES1).
        key = name.upper().replace("_", "")
        if key in seen:
            raise SchemaError(
                f"Field {name}: duplicate field name (clashes with {seen[key]}; "
                "names must be unique ignoring case and underscores)"
            )
        seen[key] = name
        if "type" not in raw:
            raise SchemaError(f'Field {name}: missing "type"')
        ftype, nullable = _parse_type(name, raw["type"])
        categorical = _bool_attr(name, raw, "categorical")
        textual = _bool_attr(name, raw, "textual")
        if categorical and ftype != "string":
            raise SchemaError(f"Field {name}: categorical is only allowed on string fields, not {ftype}")
        if textual and ftype != "string":
            raise SchemaError(f"Field {name}: textual is only allowed on string fields, not {ftype}")
        if categorical and textual:
            raise SchemaError(f"Field {name}: a field cannot be both categorical and textual")
        spec = FieldSpec(name=name, type=ftype, nullable=nullable, categorical=categorical, textual=textual)
        _check_reserved(spec, domain)
        fields.append(spec)

    try:
        fastavro.parse_schema(doc)
    except Exception as exc:  # fastavro raises several unrelated exception types
        raise SchemaError(f"Schema is not valid Avro: {exc}") from None

    schema = DatasetSchema(fields=tuple(fields), domain=domain)
    if domain is not None:
        has_user, has_item = schema.field("USER_ID") is not None, schema.field("ITEM_ID") is not None
        if has_user and has_item:
            inferred = "INTERACTIONS"
        elif has_item:
            inferred = "ITEMS"
        elif has_user:
            inferred = "USERS"
        else:
            raise SchemaError(f"Field USER_ID or ITEM_ID: a {domain} domain schema must include one of them")
        _check_required(schema, inferred, _DOMAIN_REQUIRED[domain][inferred], domain)
    return schema


def is_metadata(f: FieldSpec, dataset_type: str, domain: str | None = None) -> bool:
    """True for a metadata field of ``dataset_type``: neither required nor a reserved keyword
    (of Personalize, or of ``domain`` when given)."""
    upper = f.name.upper()
    if domain is not None and upper in _DOMAIN_RESERVED[domain]:
        return False
    if dataset_type in ("INTERACTIONS", "ACTION_INTERACTIONS"):
        return upper not in _INTERACTION_RESERVED | {"ACTION_ID"}
    if dataset_type == "ACTIONS":
        return upper not in _ACTIONS_RESERVED
    return upper not in ("USER_ID", "ITEM_ID", "CREATION_TIMESTAMP")


def _check_required(schema: DatasetSchema, dataset_type: str, required: tuple[str, ...], domain: str | None) -> None:
    where = f"{domain} domain " if domain else ""
    label = dataset_type.capitalize()
    for name in required:
        if schema.field(name) is None:
            raise SchemaError(f"Field {name}: required in a {where}{label} schema but missing")


def validate_for_dataset(schema: DatasetSchema, dataset_type: str, domain: str | None = None) -> None:
    """Check the schema fits a dataset of ``dataset_type`` as CreateDataset does; raise SchemaError."""
    dtype = dataset_type.upper() if isinstance(dataset_type, str) else dataset_type
    if dtype not in DATASET_TYPES:
        raise SchemaError(f"Dataset type {dataset_type!r} is not valid; expected one of {', '.join(DATASET_TYPES)}")
    if dtype not in SUPPORTED_DATASET_TYPES:
        raise SchemaError(f"Dataset type {dtype} is not supported yet")
    domain = domain or schema.domain
    if domain and dtype in ("ACTIONS", "ACTION_INTERACTIONS"):
        raise SchemaError(f"{dtype} datasets cannot be created in a domain dataset group ({domain})")
    required = _DOMAIN_REQUIRED[domain][dtype] if domain else _REQUIRED[dtype]
    _check_required(schema, dtype, _REQUIRED[dtype], None)
    _check_required(schema, dtype, required, domain)

    label = dtype.capitalize()
    others = {
        "INTERACTIONS": ("ACTION_ID",),
        "ITEMS": ("USER_ID", "ACTION_ID"),
        "USERS": ("ITEM_ID", "ACTION_ID"),
        "ACTIONS": ("USER_ID", "ITEM_ID"),
        "ACTION_INTERACTIONS": ("ITEM_ID",),
    }[dtype]
    for other_id in others:
        f = schema.field(other_id)
        if f is not None:
            raise SchemaError(f"Field {f.name}: not allowed in a {label} schema")
    if dtype != "ITEMS":
        for f in schema.fields:
            if f.textual:
                raise SchemaError(f"Field {f.name}: textual fields are only supported in Items schemas")
    interaction_only = (
        ("EVENT_VALUE",) if dtype == "ACTION_INTERACTIONS" else ("TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE")
    )
    if dtype != "INTERACTIONS":
        for name in interaction_only:
            f = schema.field(name)
            if f is not None:
                raise SchemaError(f"Field {f.name}: reserved for Interactions, not allowed in a {label} schema")
    if dtype == "ACTIONS":
        _check_actions(schema)
    metadata = [f for f in schema.fields if is_metadata(f, dtype)]
    if dtype in ("ITEMS", "USERS") and not metadata:
        id_name = "ITEM_ID" if dtype == "ITEMS" else "USER_ID"
        raise SchemaError(f"A {label} schema needs at least one metadata field besides {id_name}")
    limit = _MAX_METADATA.get(dtype, MAX_ACTION_COLUMNS)
    if len(metadata) > limit:
        raise SchemaError(
            f"Field {metadata[limit].name}: a {label} schema allows at most {limit} metadata fields, "
            f"this one has {len(metadata)}"
        )


def _check_actions(schema: DatasetSchema) -> None:
    """An Actions schema: ACTION_ID and at least one other field, at most 10 columns, a numeric VALUE."""
    if len(schema.fields) < 2:
        raise SchemaError("An Actions schema needs at least one metadata field besides ACTION_ID")
    if len(schema.fields) > MAX_ACTION_COLUMNS:
        raise SchemaError(
            f"Field {schema.fields[MAX_ACTION_COLUMNS].name}: an Actions schema allows at most "
            f"{MAX_ACTION_COLUMNS} columns, this one has {len(schema.fields)}"
        )
    value = schema.field("VALUE")
    if value is not None and value.type not in NUMERIC_TYPES:
        raise SchemaError(f"Field {value.name}: reserved field of an Actions schema must be numeric, not {value.type}")
    created = schema.field("CREATION_TIMESTAMP")
    if created is not None and created.type not in ("int", "long"):
        raise SchemaError(f"Field {created.name}: reserved field must be of type int or long, not {created.type}")
