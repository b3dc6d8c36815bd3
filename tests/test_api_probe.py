"""The newer control-plane operations as boto3 users meet them (an outside probe's findings, over HTTP).

A dataset group that had a data deletion job could never be deleted: the finished job counted as a
dependent ("Delete them first"), and Personalize has no operation deleting a data deletion job.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from helpers import ROLE, error_code, wait_until
from openpersonalize.data import movielens
from server_harness import unique


def _group_with_interactions(personalize) -> tuple[str, str]:
    """A new dataset group with an empty INTERACTIONS dataset; (group ARN, dataset ARN)."""
    group = personalize.create_dataset_group(name=unique("probe"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("probe"), schema=json.dumps(movielens.INTERACTIONS_SCHEMA))
    dataset = personalize.create_dataset(
        name=unique("probe"), datasetType="INTERACTIONS", datasetGroupArn=group, schemaArn=schema["schemaArn"]
    )["datasetArn"]
    return group, dataset


def test_a_group_whose_data_deletion_job_finished_can_be_deleted(server, personalize):
    group, dataset = _group_with_interactions(personalize)
    users = server.work / f"{unique('delete')}.csv"
    users.write_text("USER_ID\nu1\n")
    job = personalize.create_data_deletion_job(
        jobName=unique("delete"), datasetGroupArn=group, dataSource={"dataLocation": str(users)}, roleArn=ROLE
    )["dataDeletionJobArn"]

    def finished() -> bool:
        return personalize.describe_data_deletion_job(dataDeletionJobArn=job)["dataDeletionJob"]["status"] in (
            "COMPLETED",
            "FAILED",
        )

    wait_until(finished, what="the data deletion job's end")
    personalize.delete_dataset(datasetArn=dataset)
    personalize.delete_dataset_group(datasetGroupArn=group)
    with pytest.raises(ClientError) as err:
        personalize.describe_dataset_group(datasetGroupArn=group)
    assert error_code(err) == "ResourceNotFoundException"
