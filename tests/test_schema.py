"""Schema validation as CreateSchema / CreateDataset do it."""

from __future__ import annotations

import json

import pytest

from openpersonalize.data import movielens
from openpersonalize.data.schema import (
    DatasetSchema,
    FieldSpec,
    SchemaError,
    parse_schema,
    validate_for_dataset,
)


def _schema(*fields: dict, name: str = "Interactions") -> str:
    return json.dumps(
        {"type": "record", "name": name, "namespace": "com.amazonaws.personalize.schema", "fields": list(fields)}
    )


USER = {"name": "USER_ID", "type": "string"}
ITEM = {"name": "ITEM_ID", "type": "string"}
TS = {"name": "TIMESTAMP", "type": "long"}


def test_poc_interactions_schema() -> None:
    s = parse_schema(json.dumps(movielens.INTERACTIONS_SCHEMA))
    assert s.names == ["USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"]
    assert s.field("timestamp") == FieldSpec("TIMESTAMP", "long", nullable=False)
    assert s.field("nope") is None
    validate_for_dataset(s, "INTERACTIONS")


def test_poc_items_schema() -> None:
    s = parse_schema(json.dumps(movielens.ITEMS_SCHEMA))
    assert s.field("GENRE") == FieldSpec("GENRE", "string", categorical=True)
    assert s.field("year") == FieldSpec("YEAR", "int", nullable=True)
    validate_for_dataset(s, "ITEMS")
    assert isinstance(s, DatasetSchema)


def test_nullable_union_either_order_and_textual() -> None:
    s = parse_schema(
        _schema(
            ITEM,
            {"name": "DESCRIPTION", "type": ["string", "null"], "textual": True},
            {"name": "PRICE", "type": ["null", "double"], "default": None},
            {"name": "CREATION_TIMESTAMP", "type": "long"},
            name="Items",
        )
    )
    assert s.field("DESCRIPTION") == FieldSpec("DESCRIPTION", "string", nullable=True, textual=True)
    validate_for_dataset(s, "ITEMS")


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ([USER, ITEM, {"name": "TIMESTAMP", "type": "string"}], "TIMESTAMP"),
        ([{"name": "USER_ID", "type": "int"}, ITEM, TS], "USER_ID"),
        ([USER, {"name": "ITEM_ID", "type": ["null", "string"]}, TS], "ITEM_ID"),
        ([USER, ITEM, TS, {"name": "EVENT_TYPE", "type": "int"}], "EVENT_TYPE"),
        ([USER, ITEM, TS, {"name": "EVENT_TYPE", "type": "string", "categorical": True}], "EVENT_TYPE"),
        ([USER, ITEM, TS, {"name": "EVENT_VALUE", "type": "string"}], "EVENT_VALUE"),
        ([ITEM, {"name": "CREATION_TIMESTAMP", "type": "double"}], "CREATION_TIMESTAMP"),
        ([USER, ITEM, TS, {"name": "TAGS", "type": {"type": "array", "items": "string"}}], "TAGS"),
        ([USER, ITEM, TS, {"name": "M", "type": {"type": "map", "values": "string"}}], "M"),
        ([USER, ITEM, TS, {"name": "R", "type": {"type": "record", "name": "R", "fields": []}}], "R"),
        ([USER, ITEM, TS, {"name": "B", "type": "bytes"}], "B"),
        ([USER, ITEM, TS, {"name": "U", "type": ["null", "string", "int"]}], "U"),
        ([USER, ITEM, TS, {"name": "N", "type": "null"}], "N"),
        ([USER, ITEM, TS, {"name": "X", "type": "strin"}], "X"),
        ([USER, ITEM, TS, {"name": "AGE", "type": "int", "categorical": True}], "AGE"),
        ([USER, ITEM, TS, {"name": "AGE", "type": "long", "textual": True}], "AGE"),
        ([USER, ITEM, TS, {"name": "C", "type": "string", "categorical": "yes"}], "C"),
        ([USER, ITEM, TS, {"name": "user_id", "type": "string"}], "user_id"),
        ([USER, ITEM, TS, {"name": "GENRES_1", "type": "string"}, {"name": "GENRES1", "type": "string"}], "GENRES1"),
        ([USER, ITEM, TS, {"name": "bad-name", "type": "string"}], "bad-name"),
        ([USER, ITEM, TS, {"name": "1ABC", "type": "string"}], "1ABC"),
        ([USER, ITEM, TS, {"name": "NOTYPE"}], "NOTYPE"),
    ],
)
def test_bad_fields_name_the_field(fields: list[dict], needle: str) -> None:
    with pytest.raises(SchemaError) as err:
        parse_schema(_schema(*fields))
    assert needle in str(err.value)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        json.dumps({"type": "enum", "name": "X", "symbols": ["A"]}),
        json.dumps({"type": "record", "name": "X", "fields": []}),
        json.dumps({"type": "record", "fields": [USER]}),
        json.dumps({"type": "record", "name": "X", "fields": "USER_ID"}),
    ],
)
def test_bad_documents(text: str) -> None:
    with pytest.raises(SchemaError):
        parse_schema(text)


def test_too_many_fields() -> None:
    fields = [USER, ITEM, TS] + [{"name": f"F{i}", "type": "int"} for i in range(1000)]
    with pytest.raises(SchemaError, match="at most 1000"):
        parse_schema(_schema(*fields))


def test_invalid_avro_caught_by_fastavro() -> None:
    bad_default = {"name": "AGE", "type": "int", "default": "x"}
    with pytest.raises(SchemaError):
        parse_schema(_schema(USER, bad_default))


def test_validate_for_dataset_interactions() -> None:
    validate_for_dataset(parse_schema(_schema(USER, ITEM, TS)), "INTERACTIONS")
    with pytest.raises(SchemaError, match="TIMESTAMP"):
        validate_for_dataset(parse_schema(_schema(USER, ITEM)), "INTERACTIONS")
    with pytest.raises(SchemaError, match="USER_ID"):
        validate_for_dataset(parse_schema(_schema(ITEM, TS, {"name": "X", "type": "int"})), "INTERACTIONS")
    many = [USER, ITEM, TS] + [{"name": f"M{i}", "type": "int"} for i in range(6)]
    with pytest.raises(SchemaError, match="M5"):
        validate_for_dataset(parse_schema(_schema(*many)), "INTERACTIONS")
    textual = {"name": "NOTE", "type": "string", "textual": True}
    with pytest.raises(SchemaError, match="NOTE"):
        validate_for_dataset(parse_schema(_schema(USER, ITEM, TS, textual)), "INTERACTIONS")


def test_validate_for_dataset_items_users() -> None:
    with pytest.raises(SchemaError, match="metadata"):
        validate_for_dataset(parse_schema(_schema(ITEM)), "ITEMS")
    with pytest.raises(SchemaError, match="metadata"):
        validate_for_dataset(parse_schema(_schema(ITEM, {"name": "CREATION_TIMESTAMP", "type": "long"})), "ITEMS")
    with pytest.raises(SchemaError, match="ITEM_ID"):
        validate_for_dataset(parse_schema(_schema(USER, {"name": "AGE", "type": "int"})), "ITEMS")
    users = parse_schema(_schema(USER, {"name": "AGE", "type": "int"}, {"name": "G", "type": "string"}))
    validate_for_dataset(users, "USERS")
    with pytest.raises(SchemaError, match="metadata"):
        validate_for_dataset(parse_schema(_schema(USER)), "USERS")
    with pytest.raises(SchemaError, match="TIMESTAMP"):
        validate_for_dataset(parse_schema(_schema(USER, TS, {"name": "AGE", "type": "int"})), "USERS")


ACTION = {"name": "ACTION_ID", "type": "string"}
EVENT = {"name": "EVENT_TYPE", "type": "string"}


def test_validate_for_action_datasets() -> None:
    with pytest.raises(SchemaError, match="ACTION_ID"):
        validate_for_dataset(parse_schema(_schema(USER, ITEM, TS)), "ACTIONS")
    with pytest.raises(SchemaError, match="ACTION_ID"):
        validate_for_dataset(parse_schema(_schema(USER, ITEM, TS, EVENT)), "ACTION_INTERACTIONS")
    expiry = {"name": "ACTION_EXPIRATION_TIMESTAMP", "type": ["null", "long"]}
    repeat = {"name": "REPEAT_FREQUENCY", "type": ["null", "int"]}
    actions = parse_schema(_schema(ACTION, {"name": "VALUE", "type": ["null", "long"]}, expiry, repeat))
    validate_for_dataset(actions, "ACTIONS")
    assert actions.dataset_type == "ACTIONS"
    with pytest.raises(SchemaError, match="metadata field besides ACTION_ID"):
        validate_for_dataset(parse_schema(_schema(ACTION)), "ACTIONS")
    with pytest.raises(SchemaError, match="VALUE.*numeric"):
        validate_for_dataset(parse_schema(_schema(ACTION, {"name": "VALUE", "type": "string"})), "ACTIONS")
    with pytest.raises(SchemaError, match="REPEAT_FREQUENCY"):
        parse_schema(_schema(ACTION, {"name": "REPEAT_FREQUENCY", "type": "string"}))
    many = [{"name": f"F{i}", "type": "int"} for i in range(10)]
    with pytest.raises(SchemaError, match="at most 10 columns"):
        validate_for_dataset(parse_schema(_schema(ACTION, *many)), "ACTIONS")
    with pytest.raises(SchemaError, match="ITEM_ID"):
        validate_for_dataset(parse_schema(_schema(ACTION, ITEM, {"name": "V", "type": "int"})), "ACTIONS")
    interactions = parse_schema(_schema(USER, ACTION, TS, EVENT))
    validate_for_dataset(interactions, "ACTION_INTERACTIONS")
    assert interactions.dataset_type == "ACTION_INTERACTIONS"
    with pytest.raises(SchemaError, match="domain"):
        validate_for_dataset(interactions, "ACTION_INTERACTIONS", "ECOMMERCE")


def test_unknown_dataset_type() -> None:
    with pytest.raises(SchemaError, match="BANANAS"):
        validate_for_dataset(parse_schema(_schema(USER, ITEM, TS)), "BANANAS")


def test_domain_rules() -> None:
    event = {"name": "EVENT_TYPE", "type": "string"}
    vod = parse_schema(_schema(USER, ITEM, TS, event), domain="VIDEO_ON_DEMAND")
    assert vod.domain == "VIDEO_ON_DEMAND"
    validate_for_dataset(vod, "INTERACTIONS")
    with pytest.raises(SchemaError, match="EVENT_TYPE"):
        parse_schema(_schema(USER, ITEM, TS), domain="ECOMMERCE")
    # custom dataset group: EVENT_TYPE is optional
    validate_for_dataset(parse_schema(_schema(USER, ITEM, TS)), "INTERACTIONS")

    items_ok = _schema(
        ITEM,
        {"name": "PRICE", "type": "float"},
        {"name": "CATEGORY_L1", "type": "string", "categorical": True},
        {"name": "PRODUCT_DESCRIPTION", "type": ["null", "string"], "textual": True},
        name="Items",
    )
    validate_for_dataset(parse_schema(items_ok, domain="ECOMMERCE"), "ITEMS")
    with pytest.raises(SchemaError, match="CATEGORY_L1"):
        parse_schema(
            _schema(ITEM, {"name": "PRICE", "type": "float"}, {"name": "CATEGORY_L1", "type": "string"}),
            domain="ECOMMERCE",
        )
    with pytest.raises(SchemaError, match="PRICE"):
        parse_schema(_schema(ITEM, {"name": "CATEGORY_L1", "type": "string", "categorical": True}), domain="ECOMMERCE")
    with pytest.raises(SchemaError, match="GENRES"):
        parse_schema(_schema(ITEM, {"name": "CREATION_TIMESTAMP", "type": "long"}), domain="VIDEO_ON_DEMAND")
    with pytest.raises(SchemaError, match="Domain"):
        parse_schema(_schema(USER, ITEM, TS), domain="RETAIL")
