"""docs/api-coverage.md is what the code says, and the refusals it lists are what clients get over HTTP."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from helpers import RECIPE, error_code, error_message
from openpersonalize import coverage
from openpersonalize.api.member_support import MEMBERS, Refused, member_values
from openpersonalize.api.shapes import service_model

GROUP = "arn:aws:personalize:eu-west-3:000000000000:dataset-group/none"
SOLUTION = "arn:aws:personalize:eu-west-3:000000000000:solution/none"


def test_committed_coverage_doc_is_regenerated_identically():
    assert coverage.DOC.read_text() == coverage.render(), "run: python -m openpersonalize.coverage"


def test_every_operation_has_a_handler():
    """An operation of botocore's models without a handler would answer UnknownOperationException: CI fails."""
    assert coverage.missing_operations() == []


def test_declared_members_exist_in_the_models():
    """A member renamed or dropped by botocore (or a typo) cannot linger in the table."""
    operations = dict((name, service) for service, name in coverage.operations())
    for operation, members in MEMBERS.items():
        assert operation in operations, operation
        shape = service_model(operations[operation]).operation_model(operation).input_shape
        paths = set(coverage.member_paths(shape))
        assert set(members) <= paths, (operation, set(members) - paths)


def test_member_values_walks_lists_and_structures():
    params = {"eventList": [{"impression": ["a"]}, {}, {"impression": ["b"]}], "c": {"d": 1}}
    assert list(member_values(params, "eventList[].impression")) == [["a"], ["b"]]
    assert list(member_values(params, "c.d")) == [1]
    assert list(member_values(params, "c.e")) == []


@pytest.mark.parametrize(
    ("operation", "member", "params"),
    [
        (
            "create_solution",
            "performAutoML true",
            {"name": "auto-ml", "datasetGroupArn": GROUP, "performAutoML": True},
        ),
        (
            "create_solution",
            "solutionConfig.autoMLConfig",
            {
                "name": "auto-ml-config",
                "datasetGroupArn": GROUP,
                "recipeArn": RECIPE + "aws-user-personalization",
                "solutionConfig": {"autoMLConfig": {"metricName": "precision_at_25"}},
            },
        ),
        ("create_solution_version", "trainingMode AUTOTRAIN", {"solutionArn": SOLUTION, "trainingMode": "AUTOTRAIN"}),
    ],
)
def test_refused_members_are_named_over_http(personalize, operation, member, params):
    with pytest.raises(ClientError) as err:
        getattr(personalize, operation)(**params)
    assert error_code(err) == "InvalidInputException"
    assert error_message(err).startswith(f"{member} is not supported: ")


def test_every_refusal_declared_is_listed_in_the_doc():
    text = coverage.DOC.read_text()
    for members in MEMBERS.values():
        for support in members.values():
            assert support.describe() in text
    assert any(isinstance(s, Refused) for m in MEMBERS.values() for s in m.values())
