"""Request validation against botocore's models: the compiled validator and the model walk it replaced agree."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import pytest
from fuzz_cases import catalog
from fuzz_shapes import mutate, valid
from hypothesis import given, settings
from validation_oracle import _check
from validation_oracle import validate_input as walked

from openpersonalize.api.shapes import service_model
from openpersonalize.api.validation import _scalars_test, validate_input
from openpersonalize.errors import InvalidInputException

RUNTIME = service_model("personalize-runtime")
CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/c"
DATASET_GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/g"
OPERATIONS = catalog()
SERVING = [op for op in OPERATIONS if op.service in ("personalize-runtime", "personalize-events")]


def _outcome(validate: Any, op: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", validate(op, value)
    except InvalidInputException as exc:
        return exc.code, exc.message


def _sprinkle_nulls(draw: Any, value: Any) -> Any:
    """``value`` with some object members set to null and some null members added (AWS reads both as absent)."""
    if isinstance(value, dict):
        out = {k: None if draw(st.integers(0, 5)) == 0 else _sprinkle_nulls(draw, v) for k, v in value.items()}
        if draw(st.booleans()):
            out[draw(st.sampled_from(["numResults", "extra", "name"]))] = None
        return out
    if isinstance(value, list):
        return [_sprinkle_nulls(draw, v) for v in value]
    return value


def _agree(op: Any, value: Any) -> None:
    assert _outcome(validate_input, op, value) == _outcome(walked, op, value)


@settings(max_examples=400, deadline=None, database=None)
@given(st.data())
def test_compiled_validator_reports_what_the_model_walk_reports_for_serving_operations(data) -> None:
    """Valid inputs, inputs one mutation off and inputs with nulls: the same answer, error text included."""
    op = data.draw(st.sampled_from(SERVING)).model
    value = data.draw(valid(op.input_shape, {}))
    _agree(op, value)
    broken, _ = mutate(data.draw, op.input_shape, value)
    _agree(op, broken)
    _agree(op, _sprinkle_nulls(data.draw, value))
    _agree(op, _sprinkle_nulls(data.draw, broken))
    _agree(op, _sprinkle_nulls(data.draw, broken))  # pattern verdicts are remembered: a second call agrees too


@settings(max_examples=300, deadline=None, database=None)
@given(st.data())
def test_compiled_validator_reports_what_the_model_walk_reports_for_every_operation(data) -> None:
    op = data.draw(st.sampled_from(OPERATIONS)).model
    value = data.draw(valid(op.input_shape, {}))
    broken, _ = mutate(data.draw, op.input_shape, value)
    _agree(op, value)
    _agree(op, _sprinkle_nulls(data.draw, broken))


@pytest.mark.parametrize(
    "body",
    [
        {"campaignArn": "arn:aws:personalize:us-east-1:1:campaign/c", "userId": "u", "numResults": 5},
        {"campaignArn": "not-an-arn", "userId": "u"},
        {"campaignArn": "not-an-arn", "userId": "u" * 300, "numResults": -1, "filterValues": {"a b": "x"}},
        {"campaignArn": 7, "userId": True, "numResults": 2.5, "promotions": [{"percentPromotedItems": 0}]},
        {"campaignArn": "arn:aws:personalize:::" + "x" * 300, "context": {"k": None}, "metadataColumns": None},
    ],
)
def test_get_recommendations_errors_are_the_model_walks(body) -> None:
    op = RUNTIME.operation_model("GetRecommendations")
    _agree(op, body)
    _agree(op, body)


def test_long_lists_report_only_the_failing_members():
    op = RUNTIME.operation_model("GetPersonalizedRanking")
    items = [str(i) for i in range(500)]
    validate_input(op, {"campaignArn": CAMPAIGN, "userId": "u", "inputList": items})
    items[2] = "x" * 300
    items[7] = 7
    with pytest.raises(InvalidInputException) as err:
        validate_input(op, {"campaignArn": CAMPAIGN, "userId": "u", "inputList": items})
    message = str(err.value)
    assert "2 validation errors" in message
    assert "at 'inputList.3.member'" in message and "length less than or equal to 256" in message
    assert "'7' at 'inputList.8.member' failed to satisfy constraint: Member must be a string" in message


@settings(max_examples=300, deadline=None)
@given(
    shape_name=st.sampled_from(["ItemID", "Arn", "NumResults", "PercentPromotedItems", "ColumnValue", "TrainingMode"]),
    values=st.lists(
        st.one_of(
            st.text(max_size=12),
            st.sampled_from(["arn:aws:personalize:us-east-1:1:campaign/c", "x" * 300, "", "FULL", "UPDATE"]),
            st.integers(-5, 600),
            st.booleans(),
            st.floats(allow_nan=False),
            st.none(),
        ),
        max_size=8,
    ),
)
def test_list_sweep_accepts_only_what_member_checks_accept(shape_name, values):
    model = RUNTIME if shape_name in RUNTIME.shape_names else service_model("personalize")
    shape = model.shape_for(shape_name)
    errors: list[str] = []
    for i, value in enumerate(values):
        _check(shape, value, f"list.{i + 1}.member", errors)
    assert _scalars_test(shape)(values) == (not errors)


def test_validated_input_leaves_null_members_out():
    op = service_model("personalize").operation_model("CreateSolution")
    params = {
        "name": "s",
        "datasetGroupArn": DATASET_GROUP,
        "eventType": None,
        "solutionConfig": {"eventValueThreshold": None, "hpoConfig": None, "algorithmHyperParameters": {"a": "1"}},
    }
    assert validate_input(op, params) == {
        "name": "s",
        "datasetGroupArn": DATASET_GROUP,
        "solutionConfig": {"algorithmHyperParameters": {"a": "1"}},
    }


def test_a_container_of_the_wrong_type_is_named_with_what_it_must_be():
    op = RUNTIME.operation_model("GetRecommendations")
    body = {"campaignArn": CAMPAIGN, "filterValues": ["x"], "metadataColumns": {"ITEMS": "GENRE"}, "promotions": [5]}
    with pytest.raises(InvalidInputException) as err:
        validate_input(op, body)
    message = str(err.value)
    assert "3 validation errors" in message
    assert "Value at 'filterValues' failed to satisfy constraint: Member must be a map" in message
    assert "Value at 'metadataColumns.ITEMS' failed to satisfy constraint: Member must be a list" in message
    assert "Value at 'promotions.1.member' failed to satisfy constraint: Member must be an object" in message
