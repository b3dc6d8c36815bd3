"""What was acknowledged survives SIGKILL; interrupted jobs resume after a restart."""

from __future__ import annotations

import json

from openpersonalize.data import movielens
from server_harness import Server, unique, wait_status


def test_resources_and_jobs_survive_sigkill(tmp_path, movielens_dir):
    work = tmp_path / "work"
    work.mkdir()
    csv = movielens.write_csv(movielens.prepare_interactions(movielens_dir / "ratings.csv"), work / "ints.csv")
    server = Server(tmp_path / "data", None, [work]).start()
    try:
        personalize = server.client()
        group = personalize.create_dataset_group(name=unique("durable"))["datasetGroupArn"]
        schema = personalize.create_schema(name=unique("s"), schema=json.dumps(movielens.INTERACTIONS_SCHEMA))
        dataset = personalize.create_dataset(
            name=unique("d"), datasetType="INTERACTIONS", datasetGroupArn=group, schemaArn=schema["schemaArn"]
        )["datasetArn"]
        job = personalize.create_dataset_import_job(
            jobName=unique("j"), datasetArn=dataset, dataSource={"dataLocation": str(csv)}
        )["datasetImportJobArn"]
        server.kill()

        server.start()
        personalize = server.client()
        assert personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"] == "ACTIVE"
        assert personalize.describe_dataset(datasetArn=dataset)["dataset"]["datasetArn"] == dataset
        done = wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
        assert done["status"] == "ACTIVE", done.get("failureReason")
    finally:
        server.stop()


def test_generated_credentials_are_private(tmp_path):
    from openpersonalize.server import load_credentials

    creds, path = load_credentials(tmp_path)
    assert path is not None and (path.stat().st_mode & 0o777) == 0o600
    assert load_credentials(tmp_path)[0] == creds
