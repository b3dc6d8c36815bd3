"""Notebook 01: MovieLens ratings -> click + watch interactions, dataset group, schema, dataset, import."""

import csv
import json
import sys
from pathlib import Path

from _common import DATA_DIR, client, store, wait

dataset_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "ml-latest-small")
DATA_DIR.mkdir(exist_ok=True)
with open(dataset_dir / "ratings.csv", newline="") as f:
    ratings = list(csv.DictReader(f))
rows = [(r["userId"], r["movieId"], "click", r["timestamp"]) for r in ratings if float(r["rating"]) > 1]
rows += [(r["userId"], r["movieId"], "watch", r["timestamp"]) for r in ratings if float(r["rating"]) > 3]
rows.sort(key=lambda r: int(r[3]))
interactions_file = DATA_DIR / "interactions.csv"
with open(interactions_file, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"])
    writer.writerows(rows)

personalize = client("personalize")
dataset_group_arn = personalize.create_dataset_group(name="personalize-poc-movielens")["datasetGroupArn"]
wait(personalize.describe_dataset_group, "datasetGroup", datasetGroupArn=dataset_group_arn)

interactions_schema = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
    ],
    "version": "1.0",
}
interaction_schema_arn = personalize.create_schema(
    name="personalize-poc-movielens-interactions", schema=json.dumps(interactions_schema)
)["schemaArn"]
interactions_dataset_arn = personalize.create_dataset(
    name="personalize-poc-movielens-ints",
    datasetType="INTERACTIONS",
    datasetGroupArn=dataset_group_arn,
    schemaArn=interaction_schema_arn,
)["datasetArn"]
# With Amazon Personalize this is an s3:// URI (an S3-compatible server works here too).
job_arn = personalize.create_dataset_import_job(
    jobName="personalize-poc-import1",
    datasetArn=interactions_dataset_arn,
    dataSource={"dataLocation": interactions_file.as_uri()},
    roleArn="arn:aws:iam::000000000000:role/PersonalizeRolePOC",
)["datasetImportJobArn"]
job = wait(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job_arn)
assert job["status"] == "ACTIVE", job.get("failureReason")
store(
    dataset_dir=str(dataset_dir),
    dataset_group_arn=dataset_group_arn,
    interactions_dataset_arn=interactions_dataset_arn,
    interaction_schema_arn=interaction_schema_arn,
)
print(f"imported {len(rows)} interactions")
