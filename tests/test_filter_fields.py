"""A filter naming a field its dataset's schema lacks ends CREATE FAILED with the reason, and is never applied.

Personalize checks a filter against the dataset group's data when it creates it (``Filter.failureReason``:
"If the filter failed, the reason for its failure"); the expression's syntax is refused at once. Here a
misspelt field used to end ACTIVE and silently match nothing.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from helpers import ROLE, deploy, error_code, error_message
from server_harness import unique, wait_status


def _filter(personalize, group: str, expression: str) -> dict:
    arn = personalize.create_filter(name=unique("f"), datasetGroupArn=group, filterExpression=expression)["filterArn"]
    return wait_status(personalize.describe_filter, "filter", filterArn=arn)


@pytest.mark.parametrize(
    "expression",
    [
        'INCLUDE ItemID WHERE Items.NO_SUCH_FIELD IN ("Horror")',
        "EXCLUDE ItemID WHERE Items.GENRE IN (CurrentItem.NO_SUCH_FIELD)",
        'INCLUDE ItemID WHERE Items.GENRE IN ("Horror") | EXCLUDE ItemID WHERE Items.YEARS < 1990',
    ],
)
def test_unknown_item_field_fails_the_filter(personalize, poc_group, expression) -> None:
    done = _filter(personalize, poc_group["group"], expression)
    assert done["status"] == "CREATE FAILED"
    bad = "YEARS" if "YEARS" in expression else "NO_SUCH_FIELD"
    assert bad in done["failureReason"] and "ITEMS" in done["failureReason"], done["failureReason"]


def test_known_fields_in_any_case_are_active(personalize, poc_group) -> None:
    expression = 'INCLUDE ItemID WHERE Items.genre IN ("Horror") AND Items.Year >= 1990'
    assert _filter(personalize, poc_group["group"], expression)["status"] == "ACTIVE"
    interactions = 'EXCLUDE ItemID WHERE Interactions.event_type IN ("watch")'
    assert _filter(personalize, poc_group["group"], interactions)["status"] == "ACTIVE"


def test_a_failed_filter_is_refused_by_get_recommendations(server, personalize, poc_group) -> None:
    failed = _filter(personalize, poc_group["group"], 'INCLUDE ItemID WHERE Items.NO_SUCH_FIELD IN ("x")')
    campaign = deploy(personalize, {"pop": poc_group["versions"]["aws-popularity-count"]})["pop"]
    runtime = server.client("personalize-runtime")
    with pytest.raises(ClientError) as exc:
        runtime.get_recommendations(campaignArn=campaign, userId="1", filterArn=failed["filterArn"])
    assert error_code(exc) == "InvalidInputException"
    assert "filterArn" in error_message(exc) and "NO_SUCH_FIELD" in error_message(exc)


def test_a_failed_filter_is_refused_by_batch_jobs(personalize, poc_group) -> None:
    failed = _filter(personalize, poc_group["group"], 'INCLUDE ItemID WHERE Items.NO_SUCH_FIELD IN ("x")')
    with pytest.raises(ClientError) as exc:
        personalize.create_batch_inference_job(
            jobName=unique("b"),
            solutionVersionArn=poc_group["versions"]["aws-popularity-count"],
            filterArn=failed["filterArn"],
            roleArn=ROLE,
            jobInput={"s3DataSource": {"path": "s3://bucket/in.json"}},
            jobOutput={"s3DataDestination": {"path": "s3://bucket/out/"}},
        )
    assert error_code(exc) == "InvalidInputException"
    assert "filterArn" in error_message(exc) and "NO_SUCH_FIELD" in error_message(exc)
