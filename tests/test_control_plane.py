"""The data half of the POC workflow (notebooks 01 + 02) through boto3, plus its bad inputs."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from helpers import error_code, error_message
from openpersonalize.data import movielens
from openpersonalize.data.csv_import import read_snapshot
from openpersonalize.store.metadata import MetadataStore
from server_harness import unique, wait_status


def _snapshot_rows(server, dataset_arn: str):
    url = server.database_url or f"sqlite:///{server.data_dir.resolve() / 'metadata.db'}"
    store = MetadataStore(url)
    doc = store.get(dataset_arn).doc
    store.engine.dispose()
    return read_snapshot(server.data_dir / "objects" / doc["_snapshot"])


@pytest.fixture(scope="module")
def poc_files(server, movielens_dir):
    interactions = movielens.write_csv(
        movielens.prepare_interactions(movielens_dir / "ratings.csv"), server.work / "interactions.csv"
    )
    items = movielens.write_csv(movielens.prepare_items(movielens_dir / "movies.csv"), server.work / "item-meta.csv")
    return interactions, items


def _group_with_datasets(personalize, prefix: str) -> tuple[str, str, str]:
    group = personalize.create_dataset_group(name=unique(prefix))["datasetGroupArn"]
    ischema = personalize.create_schema(name=unique("ints"), schema=json.dumps(movielens.INTERACTIONS_SCHEMA))
    ints = personalize.create_dataset(
        name=unique("ints"), datasetType="INTERACTIONS", datasetGroupArn=group, schemaArn=ischema["schemaArn"]
    )["datasetArn"]
    mschema = personalize.create_schema(name=unique("items"), schema=json.dumps(movielens.ITEMS_SCHEMA))
    items = personalize.create_dataset(
        name=unique("items"), datasetType="ITEMS", datasetGroupArn=group, schemaArn=mschema["schemaArn"]
    )["datasetArn"]
    return group, ints, items


def test_poc_data_workflow_s3_and_local(server, personalize, poc_files, s3_server):
    interactions_csv, items_csv = poc_files
    s3 = boto3.client(
        "s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="t"
    )
    bucket = unique("personalizepocvod")
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(interactions_csv), bucket, "interactions.csv")

    group, ints, items = _group_with_datasets(personalize, "personalize-poc-movielens")
    assert personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"] == "ACTIVE"
    assert group.startswith("arn:aws:personalize:eu-west-3:000000000000:dataset-group/")
    assert ints.endswith("/INTERACTIONS")

    job = personalize.create_dataset_import_job(
        jobName=unique("personalize-poc-import1"),
        datasetArn=ints,
        dataSource={"dataLocation": f"s3://{bucket}/interactions.csv"},
        roleArn="arn:aws:iam::000000000000:role/PersonalizeRolePOC",
    )["datasetImportJobArn"]
    item_job = personalize.create_dataset_import_job(
        jobName=unique("personalize-poc-item-import1"),
        datasetArn=items,
        dataSource={"dataLocation": items_csv.as_uri()},
        roleArn="arn:aws:iam::000000000000:role/PersonalizeRolePOC",
    )["datasetImportJobArn"]
    for arn in (job, item_job):
        done = wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=arn)
        assert done["status"] == "ACTIVE", done.get("failureReason")

    table = _snapshot_rows(server, ints)
    assert table.num_rows == 158_371
    assert set(table.column("EVENT_TYPE").to_pylist()) == {"click", "watch"}
    items_table = _snapshot_rows(server, items)
    assert items_table.num_rows == 9_742
    toy_story = next(r for r in items_table.to_pylist() if r["ITEM_ID"] == "1")
    assert toy_story["GENRE"] == "Adventure|Animation|Children|Comedy|Fantasy"
    assert toy_story["YEAR"] == 1995

    listed = personalize.list_dataset_import_jobs(datasetArn=ints)["datasetImportJobs"]
    assert [j["datasetImportJobArn"] for j in listed] == [job]
    datasets = personalize.list_datasets(datasetGroupArn=group)["datasets"]
    assert {d["datasetType"] for d in datasets} == {"INTERACTIONS", "ITEMS"}


def test_s3_prefix_imports_every_csv(server, personalize, s3_server, poc_files):
    s3 = boto3.client(
        "s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="t"
    )
    bucket = unique("prefixbucket")
    s3.create_bucket(Bucket=bucket)
    lines = poc_files[0].read_text().splitlines()
    s3.put_object(Bucket=bucket, Key="ints/part1.csv", Body="\n".join(lines[:101]) + "\n")
    s3.put_object(Bucket=bucket, Key="ints/part2.csv", Body="\n".join([lines[0], *lines[101:151]]) + "\n")
    s3.put_object(Bucket=bucket, Key="ints/readme.txt", Body="not a csv")
    _, ints, _ = _group_with_datasets(personalize, "prefix")
    job = personalize.create_dataset_import_job(
        jobName=unique("prefix"), datasetArn=ints, dataSource={"dataLocation": f"s3://{bucket}/ints/"}
    )["datasetImportJobArn"]
    done = wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    assert _snapshot_rows(server, ints).num_rows == 150


def _import(personalize, dataset_arn: str, path, mode: str = "FULL") -> dict:
    job = personalize.create_dataset_import_job(
        jobName=unique("job"), datasetArn=dataset_arn, dataSource={"dataLocation": str(path)}, importMode=mode
    )["datasetImportJobArn"]
    return wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)


def test_bad_csv_fails_job_and_keeps_previous_data(server, personalize):
    _, ints, _ = _group_with_datasets(personalize, "badcsv")
    good = server.work / "good.csv"
    good.write_text("USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n1,10,click,100\n2,20,watch,200\n")
    assert _import(personalize, ints, good)["status"] == "ACTIVE"

    bad_type = server.work / "bad_type.csv"
    bad_type.write_text("USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n1,10,click,100\n2,20,watch,yesterday\n")
    failed = _import(personalize, ints, bad_type)
    assert failed["status"] == "CREATE FAILED"
    assert "row 2" in failed["failureReason"] and "TIMESTAMP" in failed["failureReason"]

    missing = server.work / "missing_col.csv"
    missing.write_text("USER_ID,EVENT_TYPE,TIMESTAMP\n1,click,100\n")
    failed = _import(personalize, ints, missing)
    assert failed["status"] == "CREATE FAILED" and "ITEM_ID" in failed["failureReason"]

    empty = server.work / "empty.csv"
    empty.write_text("")
    assert _import(personalize, ints, empty)["status"] == "CREATE FAILED"

    gone = _import(personalize, ints, server.work / "does-not-exist.csv")
    assert gone["status"] == "CREATE FAILED" and "does-not-exist.csv" in gone["failureReason"]

    assert _snapshot_rows(server, ints).num_rows == 2

    more = server.work / "more.csv"
    more.write_text("USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n3,30,click,300\n")
    assert _import(personalize, ints, more, "INCREMENTAL")["status"] == "ACTIVE"
    assert _snapshot_rows(server, ints).num_rows == 3
    assert _import(personalize, ints, more, "FULL")["status"] == "ACTIVE"
    assert _snapshot_rows(server, ints).num_rows == 1


@pytest.mark.parametrize("location", ["/etc/passwd", "file:///etc/", "relative/path.csv", "s3://"])
def test_import_paths_outside_allowed_dirs_are_refused(personalize, location):
    _, ints, _ = _group_with_datasets(personalize, "paths")
    with pytest.raises(ClientError) as err:
        personalize.create_dataset_import_job(
            jobName=unique("p"), datasetArn=ints, dataSource={"dataLocation": location}
        )
    assert error_code(err) == "InvalidInputException"


def test_symlink_escape_is_refused(server, personalize):
    link = server.work / unique("escape")
    link.symlink_to("/etc")
    _, ints, _ = _group_with_datasets(personalize, "symlink")
    with pytest.raises(ClientError) as err:
        personalize.create_dataset_import_job(
            jobName=unique("p"), datasetArn=ints, dataSource={"dataLocation": str(link / "passwd")}
        )
    assert error_code(err) == "InvalidInputException" and "outside" in str(err.value)


@pytest.mark.parametrize(
    "schema, needle",
    [
        ("not json", "JSON"),
        (
            json.dumps(
                {
                    "type": "record",
                    "name": "X",
                    "fields": [{"name": "USER_ID", "type": {"type": "array", "items": "string"}}],
                }
            ),
            "USER_ID",
        ),
        (
            json.dumps(
                {"type": "record", "name": "X", "fields": [{"name": "YEAR", "type": "int", "categorical": True}]}
            ),
            "YEAR",
        ),
        (json.dumps({"type": "record", "name": "X", "fields": [{"name": "USER_ID", "type": "long"}]}), "USER_ID"),
    ],
)
def test_bad_schemas_are_rejected(personalize, schema, needle):
    with pytest.raises(ClientError) as err:
        personalize.create_schema(name=unique("bad"), schema=schema)
    assert error_code(err) == "InvalidInputException"
    assert needle in err.value.response["Error"]["Message"]


def test_schema_must_fit_dataset_type(personalize):
    group = personalize.create_dataset_group(name=unique("fit"))["datasetGroupArn"]
    items_schema = personalize.create_schema(name=unique("items"), schema=json.dumps(movielens.ITEMS_SCHEMA))
    with pytest.raises(ClientError) as err:
        personalize.create_dataset(
            name=unique("d"), datasetType="INTERACTIONS", datasetGroupArn=group, schemaArn=items_schema["schemaArn"]
        )
    assert error_code(err) == "InvalidInputException" and "USER_ID" in str(err.value)
    with pytest.raises(ClientError) as err:
        personalize.create_dataset(
            name=unique("d"), datasetType="ACTIONS", datasetGroupArn=group, schemaArn=items_schema["schemaArn"]
        )
    assert error_code(err) == "InvalidInputException" and "ACTIONS" in str(err.value)


def test_duplicates_unknown_arns_and_in_use(personalize):
    name = unique("dup")
    group = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    with pytest.raises(ClientError) as err:
        personalize.create_dataset_group(name=name)
    assert error_code(err) == "ResourceAlreadyExistsException"

    schema = personalize.create_schema(name=unique("s"), schema=json.dumps(movielens.INTERACTIONS_SCHEMA))["schemaArn"]
    dataset = personalize.create_dataset(
        name=unique("d"), datasetType="Interactions", datasetGroupArn=group, schemaArn=schema
    )["datasetArn"]
    with pytest.raises(ClientError) as err:
        personalize.create_dataset(
            name=unique("d"), datasetType="INTERACTIONS", datasetGroupArn=group, schemaArn=schema
        )
    assert error_code(err) == "ResourceAlreadyExistsException"

    for call, kwargs in [
        (personalize.describe_dataset_group, {"datasetGroupArn": group + "-nope"}),
        (personalize.describe_dataset, {"datasetArn": dataset + "-nope"}),
        (personalize.describe_schema, {"schemaArn": schema + "-nope"}),
        (
            personalize.describe_dataset_import_job,
            {"datasetImportJobArn": group.replace("dataset-group", "dataset-import-job")},
        ),
        (personalize.describe_recipe, {"recipeArn": "arn:aws:personalize:::recipe/aws-nope"}),
    ]:
        with pytest.raises(ClientError) as err:
            call(**kwargs)
        assert error_code(err) == "ResourceNotFoundException", call

    with pytest.raises(ClientError) as err:
        personalize.delete_dataset_group(datasetGroupArn=group)
    assert error_code(err) == "ResourceInUseException"
    with pytest.raises(ClientError) as err:
        personalize.delete_schema(schemaArn=schema)
    assert error_code(err) == "ResourceInUseException"

    personalize.delete_dataset(datasetArn=dataset)
    personalize.delete_schema(schemaArn=schema)
    personalize.delete_dataset_group(datasetGroupArn=group)
    with pytest.raises(ClientError) as err:
        personalize.describe_dataset_group(datasetGroupArn=group)
    assert error_code(err) == "ResourceNotFoundException"


def test_update_dataset_schema(personalize):
    group = personalize.create_dataset_group(name=unique("upd"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("s"), schema=json.dumps(movielens.ITEMS_SCHEMA))["schemaArn"]
    dataset = personalize.create_dataset(
        name=unique("d"), datasetType="ITEMS", datasetGroupArn=group, schemaArn=schema
    )["datasetArn"]
    wider = dict(
        movielens.ITEMS_SCHEMA,
        fields=[*movielens.ITEMS_SCHEMA["fields"], {"name": "STUDIO", "type": ["null", "string"]}],
    )
    wider_arn = personalize.create_schema(name=unique("s"), schema=json.dumps(wider))["schemaArn"]
    personalize.update_dataset(datasetArn=dataset, schemaArn=wider_arn)
    described = personalize.describe_dataset(datasetArn=dataset)["dataset"]
    assert described["schemaArn"] == wider_arn
    assert described["latestDatasetUpdate"]["status"] == "ACTIVE"
    narrower = dict(movielens.ITEMS_SCHEMA, fields=movielens.ITEMS_SCHEMA["fields"][:2])
    narrower_arn = personalize.create_schema(name=unique("s"), schema=json.dumps(narrower))["schemaArn"]
    with pytest.raises(ClientError) as err:
        personalize.update_dataset(datasetArn=dataset, schemaArn=narrower_arn)
    assert error_code(err) == "InvalidInputException" and "YEAR" in str(err.value)


def test_pagination_and_next_token(personalize):
    prefix = unique("page")
    for i in range(5):
        personalize.create_schema(name=f"{prefix}-{i}", schema=json.dumps(movielens.INTERACTIONS_SCHEMA))
    seen, token = [], None
    while True:
        kwargs = {"maxResults": 2, **({"nextToken": token} if token else {})}
        page = personalize.list_schemas(**kwargs)
        assert len(page["schemas"]) <= 2
        seen += [s["name"] for s in page["schemas"]]
        token = page.get("nextToken")
        if not token:
            break
    assert {f"{prefix}-{i}" for i in range(5)} <= set(seen)
    assert len(seen) == len(set(seen))
    paginator_names = [
        s["name"] for page in personalize.get_paginator("list_schemas").paginate() for s in page["schemas"]
    ]
    assert set(paginator_names) == set(seen)
    with pytest.raises(ClientError) as err:
        personalize.list_schemas(nextToken="garbage")
    assert error_code(err) == "InvalidNextTokenException"


def test_tags(personalize):
    group = personalize.create_dataset_group(name=unique("tags"), tags=[{"tagKey": "team", "tagValue": "reco"}])
    arn = group["datasetGroupArn"]
    personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "env", "tagValue": "test"}])
    tags = personalize.list_tags_for_resource(resourceArn=arn)["tags"]
    assert {t["tagKey"]: t["tagValue"] for t in tags} == {"team": "reco", "env": "test"}
    personalize.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == [{"tagKey": "env", "tagValue": "test"}]


def test_recipe_catalogue(personalize):
    recipes = {r["recipeArn"]: r for r in personalize.list_recipes()["recipes"]}
    for name in ("aws-user-personalization", "aws-sims", "aws-personalized-ranking", "aws-popularity-count"):
        assert f"arn:aws:personalize:::recipe/{name}" in recipes
    sims = personalize.describe_recipe(recipeArn="arn:aws:personalize:::recipe/aws-sims")["recipe"]
    assert sims["recipeType"] == "RELATED_ITEMS" and sims["status"] == "ACTIVE"


def test_validation_errors_name_the_field(personalize):
    with pytest.raises(ClientError) as err:
        personalize.create_dataset_group(name="has spaces")
    assert error_code(err) == "InvalidInputException" and "'name'" in str(err.value)
    with pytest.raises(ClientError) as err:
        personalize.create_dataset_group(name="x" * 64)
    assert error_code(err) == "InvalidInputException" and "length" in str(err.value)


def test_tags_follow_personalizes_rules(personalize):
    """Keys and values may not start with aws: (any case), at create time as with TagResource; 50 at most."""
    with pytest.raises(ClientError) as err:
        personalize.create_dataset_group(name=unique("awstag"), tags=[{"tagKey": "AWS:team", "tagValue": "x"}])
    assert error_code(err) == "InvalidInputException" and "tags.1.tagKey" in error_message(err)
    group = personalize.create_dataset_group(name=unique("tagrules"))["datasetGroupArn"]
    with pytest.raises(ClientError) as err:
        personalize.tag_resource(resourceArn=group, tags=[{"tagKey": "k", "tagValue": "aws:v"}])
    assert error_code(err) == "InvalidInputException" and "tags.1.tagValue" in error_message(err)
    with pytest.raises(ClientError) as err:
        personalize.untag_resource(resourceArn=group, tagKeys=["aws:cloudformation:stack-name"])
    assert error_code(err) == "InvalidInputException"
    many = [{"tagKey": f"k{i}", "tagValue": "v"} for i in range(51)]
    with pytest.raises(ClientError) as err:
        personalize.create_dataset_group(name=unique("manytags"), tags=many)
    assert error_code(err) == "TooManyTagsException"
    assert personalize.list_tags_for_resource(resourceArn=group)["tags"] == []
    twice = [{"tagKey": "team", "tagValue": "a"}, {"tagKey": "team", "tagValue": "b"}]
    arn = personalize.create_dataset_group(name=unique("sametag"), tags=twice)["datasetGroupArn"]
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == [{"tagKey": "team", "tagValue": "b"}]
