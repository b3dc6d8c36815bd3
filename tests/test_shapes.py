"""Validation and output shaping against botocore's models (unit level)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openpersonalize.api.shapes import _check, _scalars_test, service_model, shape_output, validate_input
from openpersonalize.errors import InvalidInputException

RUNTIME = service_model("personalize-runtime")
CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/c"
DATASET_GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/g"


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


def test_output_shaping_keeps_model_members_only():
    shape = RUNTIME.operation_model("GetRecommendations").output_shape
    plain = {"itemList": [{"itemId": "1", "score": 0.5}], "recommendationId": "RID-1"}
    assert shape_output(shape, plain) == plain
    extra = {"itemList": [{"itemId": "1", "score": 0.5, "secret": 1, "metadata": {"GENRE": "Comedy"}}], "x": 2}
    assert shape_output(shape, extra) == {"itemList": [{"itemId": "1", "score": 0.5, "metadata": {"GENRE": "Comedy"}}]}
    assert shape_output(shape, {"itemList": [{"itemId": None, "score": 0.5}]}) == {"itemList": [{"score": 0.5}]}
    control = service_model("personalize").operation_model("DescribeCampaign").output_shape
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    shaped = shape_output(control, {"campaign": {"name": "c", "creationDateTime": when}})
    assert shaped == {"campaign": {"name": "c", "creationDateTime": when.timestamp()}}


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
