"""Notebook 02 over boto3: its item-meta.csv (YEAR a plain int, 13 titles without a plain year) from S3.

Personalize imports that file (the seed notebook's genre and 1970s shelves are served); so must we:
the job ends ACTIVE, the bad years are stored as missing, and a YEAR filter never matches them.
"""

from __future__ import annotations

import json

import boto3
import poc_notebook02
import pyarrow as pa

from openpersonalize.data import movielens
from openpersonalize.server import ServerConfig
from openpersonalize.store.metadata import MetadataStore
from server_harness import unique, wait_status

USERS = 30
SEVENTIES = "INCLUDE ItemID WHERE Items.YEAR >= 1970 AND Items.YEAR < 1980"


def _import(personalize, group: str, kind: str, schema: dict, location: str) -> dict:
    schema_arn = personalize.create_schema(name=unique("s"), schema=json.dumps(schema))["schemaArn"]
    dataset = personalize.create_dataset(
        name=unique("d"), datasetType=kind, datasetGroupArn=group, schemaArn=schema_arn
    )
    job = personalize.create_dataset_import_job(
        jobName=unique("personalize-poc-item-import1"),
        datasetArn=dataset["datasetArn"],
        dataSource={"dataLocation": location},
        roleArn="arn:aws:iam::000000000000:role/PersonalizeRolePOC",
    )["datasetImportJobArn"]
    return wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)


def test_notebook02_items_import_and_year_filters(server, personalize, s3_server, movielens_dir):
    movies = movielens_dir / "movies.csv"
    rows = {item: (genre, year) for item, genre, year in poc_notebook02.item_rows(movies)}
    bad = poc_notebook02.bad_years(movies)
    assert len(bad) == 13
    item_meta = poc_notebook02.write_item_meta(movies, server.work / f"{unique('item-meta')}.csv")
    s3 = boto3.client(
        "s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="t"
    )
    bucket = unique("personalizepocvod")
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(item_meta), bucket, "item-meta.csv")

    group = personalize.create_dataset_group(name=unique("personalize-poc-movielens"))["datasetGroupArn"]
    job = _import(personalize, group, "ITEMS", poc_notebook02.ITEMS_SCHEMA, f"s3://{bucket}/item-meta.csv")
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert "failureReason" not in job

    # reported: a server log line naming the job and the column, and the counts kept on the job record
    log = (server.data_dir.parent / f"server-{server.port}.log").read_text()
    assert f"Dataset import job {job['datasetImportJobArn']}" in log
    assert "YEAR 13 (12 empty, 1 invalid)" in log
    store = MetadataStore(ServerConfig(str(server.data_dir), server.database_url).resolved_database_url())
    assert store.get(job["datasetImportJobArn"]).doc["_missingValues"] == {"YEAR": {"empty": 12, "invalid": 1}}

    # every user interacts with the 13 bad-year movies, 15 from the 1970s and 15 others
    seventies = [i for i, (_, year) in rows.items() if year.isdigit() and 1970 <= int(year) < 1980][:15]
    others = [i for i, (_, year) in rows.items() if year.isdigit() and int(year) >= 1990][:15]
    catalog = sorted(bad) + seventies + others
    pairs = [(f"u{u}", item) for u in range(USERS) for item in catalog]
    interactions = pa.table(
        {
            "USER_ID": [u for u, _ in pairs],
            "ITEM_ID": [i for _, i in pairs],
            "EVENT_TYPE": ["watch"] * len(pairs),
            "TIMESTAMP": list(range(1_500_000_000, 1_500_000_000 + len(pairs))),
        }
    )
    csv = movielens.write_csv(interactions, server.work / f"{unique('ints')}.csv")
    done = _import(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(csv))
    assert done["status"] == "ACTIVE", done.get("failureReason")

    recipe = "arn:aws:personalize:::recipe/aws-popularity-count"
    solution = personalize.create_solution(name=unique("pop"), datasetGroupArn=group, recipeArn=recipe)
    version = personalize.create_solution_version(solutionArn=solution["solutionArn"])["solutionVersionArn"]
    done = wait_status(
        personalize.describe_solution_version, "solutionVersion", timeout=600, solutionVersionArn=version
    )
    assert done["status"] == "ACTIVE", done.get("failureReason")
    campaign = personalize.create_campaign(name=unique("pop"), solutionVersionArn=version, minProvisionedTPS=1)
    done = wait_status(personalize.describe_campaign, "campaign", campaignArn=campaign["campaignArn"])
    assert done["status"] == "ACTIVE", done.get("failureReason")
    runtime = server.client("personalize-runtime")

    def recommended(expression: str | None = None) -> list[str]:
        extra = {}
        if expression:
            extra["filterArn"] = personalize.create_filter(
                name=unique("f"), datasetGroupArn=group, filterExpression=expression
            )["filterArn"]
        response = runtime.get_recommendations(
            campaignArn=campaign["campaignArn"], userId="new-visitor", numResults=100, **extra
        )
        return [item["itemId"] for item in response["itemList"]]

    def year(item: str) -> int:
        return int(rows[item][1])

    # the most popular movies lead, the bad-year ones among them: they are in the catalog
    assert set(recommended()[: len(catalog)]) == set(catalog)
    decade = recommended(SEVENTIES)
    assert set(decade[:15]) == set(seventies) and len(decade) == 100
    assert all(1970 <= year(i) < 1980 for i in decade)
    with_year = recommended("INCLUDE ItemID WHERE Items.YEAR < 3000")
    assert len(with_year) == 100 and not set(with_year) & set(bad)
    # a null never matches, so excluding every year leaves exactly the 13 movies without one
    assert set(recommended("EXCLUDE ItemID WHERE Items.YEAR < 3000")) == set(bad)
    sci_fi = recommended('INCLUDE ItemID WHERE Items.GENRE IN ("Sci-Fi")')
    assert all("Sci-Fi" in rows[i][0].split("|") for i in sci_fi)
    assert {"40697", "140956"} <= set(sci_fi)  # Babylon 5 and Ready Player One keep their genres
