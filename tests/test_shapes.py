"""Validation and output shaping against botocore's models (unit level)."""

from __future__ import annotations

import datetime as dt

import pytest

from openpersonalize.api.shapes import service_model, shape_output, validate_input
from openpersonalize.errors import InvalidInputException

RUNTIME = service_model("personalize-runtime")
CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/c"


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
