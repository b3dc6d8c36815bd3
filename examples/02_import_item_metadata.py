"""Notebook 02: item metadata (GENRE, YEAR) as an ITEMS dataset."""

import csv
import json
import re
from pathlib import Path

from _common import DATA_DIR, client, restore, store, wait

state = restore()
with open(Path(state["dataset_dir"]) / "movies.csv", newline="", encoding="utf-8") as f:
    movies = list(csv.DictReader(f))
item_file = DATA_DIR / "item-meta.csv"
with open(item_file, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(["ITEM_ID", "GENRE", "YEAR"])
    for m in movies:
        year = re.match(r".*\((\d{4})[^)]*\)", m["title"])
        writer.writerow([m["movieId"], m["genres"], year.group(1) if year else ""])

personalize = client("personalize")
itemmetadata_schema = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "GENRE", "type": "string", "categorical": True},
        {"name": "YEAR", "type": ["null", "int"]},
    ],
    "version": "1.0",
}
schema_arn = personalize.create_schema(name="personalize-poc-movielens-item", schema=json.dumps(itemmetadata_schema))[
    "schemaArn"
]
items_dataset_arn = personalize.create_dataset(
    name="personalize-poc-movielens-items",
    datasetType="ITEMS",
    datasetGroupArn=state["dataset_group_arn"],
    schemaArn=schema_arn,
)["datasetArn"]
job_arn = personalize.create_dataset_import_job(
    jobName="personalize-poc-item-import1",
    datasetArn=items_dataset_arn,
    dataSource={"dataLocation": item_file.as_uri()},
    roleArn="arn:aws:iam::000000000000:role/PersonalizeRolePOC",
)["datasetImportJobArn"]
job = wait(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job_arn)
assert job["status"] == "ACTIVE", job.get("failureReason")
store(items_dataset_arn=items_dataset_arn, itemmetadataschema_arn=schema_arn)
