"""Output shaping against botocore's models (unit level)."""

from __future__ import annotations

import datetime as dt

from openpersonalize.api.shapes import service_model, shape_output

RUNTIME = service_model("personalize-runtime")


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
