"""Filters as Personalize users meet them over boto3, against the rules of Personalize's filter guidelines.

- "You can't create filter expressions that filter using values with a boolean type in your schema", nor filter
  on unstructured textual metadata: such a filter fits the grammar, so (as with a field the schema lacks) it ends
  CREATE FAILED with a failureReason naming the field; it used to end ACTIVE.
- A CurrentItem filter applies only to related-items recipes; a user-personalization campaign answered [].
- Item interactions filters can't be used with the Item-Attribute-Affinity recipe; its segment job took one.
- A filter uses at most 10 distinct dataset fields; one field spelt in two cases was counted twice.
- A UserID (user segment) filter has no CurrentUser to test: CreateFilter took an IF clause, the jobs then failed.
- A UserID filter on item recommendations answered 500 (GetRecommendations, promotions) or failed the batch job.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from helpers import ROLE, avro_schema, deploy, error_code, error_message, train
from openpersonalize.data import movielens
from server_harness import unique, wait_status

ITEMS = avro_schema(
    "Items",
    [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "ON_SALE", "type": "boolean"},
        {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
        {"name": "GENRE", "type": "string", "categorical": True},
    ],
)
USERS = avro_schema("Users", [{"name": "USER_ID", "type": "string"}, {"name": "PREMIUM", "type": "boolean"}])


@pytest.fixture(scope="module")
def group(personalize) -> str:
    """A dataset group whose Items and Users schemas have boolean and textual fields (no data needed)."""
    arn = personalize.create_dataset_group(name=unique("flt"))["datasetGroupArn"]
    for kind, schema in (("ITEMS", ITEMS), ("USERS", USERS)):
        schema_arn = personalize.create_schema(name=unique("s"), schema=json.dumps(schema))["schemaArn"]
        personalize.create_dataset(name=unique("d"), datasetType=kind, datasetGroupArn=arn, schemaArn=schema_arn)
    return arn


def _filter(personalize, group: str, expression: str) -> dict:
    arn = personalize.create_filter(name=unique("f"), datasetGroupArn=group, filterExpression=expression)["filterArn"]
    return wait_status(personalize.describe_filter, "filter", filterArn=arn)


@pytest.mark.parametrize(
    ("expression", "field", "kind"),
    [
        ('INCLUDE ItemID WHERE Items.ON_SALE IN ("true")', "ON_SALE", "boolean"),
        ('EXCLUDE ItemID WHERE Items.on_sale = "false"', "on_sale", "boolean"),
        ('INCLUDE ItemID WHERE Items.GENRE IN ("x") IF CurrentUser.PREMIUM = "true"', "PREMIUM", "boolean"),
        ('INCLUDE ItemID WHERE Items.DESCRIPTION IN ("great")', "DESCRIPTION", "textual"),
        (
            'INCLUDE ItemID WHERE Items.GENRE IN ("x") | EXCLUDE ItemID WHERE Items.DESCRIPTION IN ($D)',
            "DESCRIPTION",
            "textual",
        ),
    ],
)
def test_boolean_and_textual_fields_fail_the_filter(personalize, group, expression, field, kind) -> None:
    done = _filter(personalize, group, expression)
    assert done["status"] == "CREATE FAILED", done
    assert field in done["failureReason"] and kind in done["failureReason"], done["failureReason"]


def test_categorical_field_of_the_same_schema_stays_active(personalize, group) -> None:
    assert _filter(personalize, group, 'INCLUDE ItemID WHERE Items.GENRE IN ("x")')["status"] == "ACTIVE"


@pytest.fixture(scope="module")
def campaigns(personalize, poc_group) -> dict[str, str]:
    """User-personalization and SIMS campaigns of the shared POC group."""
    versions = poc_group["versions"]
    return deploy(personalize, {k: versions[k] for k in ("aws-user-personalization", "aws-sims")})


def test_current_item_filters_apply_to_related_items_only(
    server, personalize, poc_group, campaigns, movielens_dir
) -> None:
    """Personalize: "You can apply a filter with the CurrentItem element only if your domain use case or custom
    recipe generates related items recommendations". A user-personalization campaign answered an empty list."""
    items = movielens.prepare_items(movielens_dir / "movies.csv").to_pylist()
    genres = {r["ITEM_ID"]: set(r["GENRE"].split("|")) for r in items}
    same = _filter(personalize, poc_group["group"], "INCLUDE ItemID WHERE Items.GENRE IN (CurrentItem.GENRE)")
    other = _filter(personalize, poc_group["group"], "EXCLUDE ItemID WHERE Items.GENRE IN (CurrentItem.GENRE)")
    runtime = server.client("personalize-runtime")
    with pytest.raises(ClientError) as exc:
        runtime.get_recommendations(
            campaignArn=campaigns["aws-user-personalization"], userId="1", filterArn=same["filterArn"]
        )
    assert error_code(exc) == "InvalidInputException"
    assert "filterArn" in error_message(exc) and "CurrentItem" in error_message(exc)
    for item in ("1", "2571"):
        for filt, shares in ((same, True), (other, False)):
            answer = runtime.get_recommendations(
                campaignArn=campaigns["aws-sims"], itemId=item, numResults=50, filterArn=filt["filterArn"]
            )["itemList"]
            assert answer
            assert all(bool(genres[r["itemId"]] & genres[item]) is shares for r in answer)


def test_interactions_filters_are_refused_for_item_attribute_affinity(server, personalize, poc_group) -> None:
    """Personalize: "You can't use item interactions filters with the Item-Attribute-Affinity recipe". A batch
    segment job with one was accepted and ran; Item-Affinity still takes it."""
    watched = _filter(personalize, poc_group["group"], 'EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("watch")')
    attribute = train(personalize, poc_group["group"], ["aws-item-attribute-affinity"])["aws-item-attribute-affinity"]
    src = server.work / f"{unique('seg')}.json"
    src.write_text('{"itemAttributes": "ITEMS.GENRE = \\"Comedy\\""}\n')

    def segment_job(version: str) -> str:
        return personalize.create_batch_segment_job(
            jobName=unique("seg"),
            solutionVersionArn=version,
            filterArn=watched["filterArn"],
            roleArn=ROLE,
            jobInput={"s3DataSource": {"path": str(src)}},
            jobOutput={"s3DataDestination": {"path": str(src.parent)}},
        )["batchSegmentJobArn"]

    with pytest.raises(ClientError) as exc:
        segment_job(attribute)
    assert error_code(exc) == "InvalidInputException"
    assert "filterArn" in error_message(exc) and "Interactions" in error_message(exc)
    assert segment_job(poc_group["versions"]["aws-item-affinity"]).startswith("arn:")


def test_one_field_in_two_cases_counts_once_toward_the_field_limit(personalize) -> None:
    """Fields match the schema case-insensitively, so Items.F0 and Items.f0 are one of the 10 distinct fields a
    filter may use; the second spelling was counted as an 11th field and the filter refused."""
    group = personalize.create_dataset_group(name=unique("flt"))["datasetGroupArn"]
    conditions = [f'Items.F{n} IN ("a")' for n in range(10)] + ['Items.f0 IN ("b")']
    expression = "INCLUDE ItemID WHERE " + " AND ".join(conditions)
    assert _filter(personalize, group, expression)["status"] == "ACTIVE"
    with pytest.raises(ClientError) as exc:
        personalize.create_filter(
            name=unique("f"), datasetGroupArn=group, filterExpression=expression + ' AND Items.F10 IN ("c")'
        )
    assert error_code(exc) == "InvalidInputException" and "10 distinct dataset fields" in error_message(exc)


def test_user_segment_filters_take_no_if_clause(personalize, group) -> None:
    """IF tests the CurrentUser, the user recommendations are for; a user segment has none. CreateFilter accepted
    such a UserID filter and every batch segment job using it failed with 'Internal error: ValueError'."""
    expression = 'INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click") IF CurrentUser.PREMIUM = "1"'
    with pytest.raises(ClientError) as exc:
        personalize.create_filter(name=unique("f"), datasetGroupArn=group, filterExpression=expression)
    assert error_code(exc) == "InvalidInputException"
    column = expression.index(" IF ") + 2
    assert "IF CurrentUser" in error_message(exc) and error_message(exc).endswith(f"column {column}")


def test_user_segment_filters_are_refused_for_item_recommendations(server, personalize, poc_group, campaigns) -> None:
    """A UserID filter on GetRecommendations or a promotion answered 500 InternalFailure, and a batch inference job
    took it and failed with 'Internal error: ValueError'; each is the client's InvalidInputException now."""
    users = _filter(personalize, poc_group["group"], 'INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("watch")')
    runtime = server.client("personalize-runtime")
    up = campaigns["aws-user-personalization"]
    calls = [
        ("filterArn", lambda: runtime.get_recommendations(campaignArn=up, userId="1", filterArn=users["filterArn"])),
        (
            "promotions.1.filterArn",
            lambda: runtime.get_recommendations(
                campaignArn=up,
                userId="1",
                promotions=[{"name": "p", "percentPromotedItems": 20, "filterArn": users["filterArn"]}],
            ),
        ),
        (
            "filterArn",
            lambda: personalize.create_batch_inference_job(
                jobName=unique("b"),
                solutionVersionArn=poc_group["versions"]["aws-user-personalization"],
                filterArn=users["filterArn"],
                roleArn=ROLE,
                jobInput={"s3DataSource": {"path": "s3://bucket/in.json"}},
                jobOutput={"s3DataDestination": {"path": "s3://bucket/out/"}},
            ),
        ),
    ]
    for field, call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc) == "InvalidInputException", (field, error_message(exc))
        assert error_message(exc).startswith(f"{field} {users['filterArn']}") and "UserID" in error_message(exc)
