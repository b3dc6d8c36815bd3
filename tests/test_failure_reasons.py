"""What a failed import job tells its caller: the user's own s3:// location, never the server's internals.

A DescribeDatasetImportJob failureReason is read by whoever may describe the job; the server's
object-store endpoint (an internal address) and its exception plumbing are not theirs to see.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ProxyConnectionError, ReadTimeoutError
from test_file_confinement import _train

from helpers import ROLE, s3_env, wait_until
from openpersonalize.data import movielens
from openpersonalize.jobs.runner import JobHandler, JobRunner
from openpersonalize.store.metadata import MetadataStore
from openpersonalize.store.s3_errors import s3_failure
from server_harness import Server, free_port, unique, wait_status


@pytest.fixture(scope="module")
def bucket(s3_server) -> str:
    env = s3_env(s3_server)
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    name = unique("reasons")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="bad.csv", Body=b"USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,not-a-time\n")
    return name


def _dataset(personalize) -> str:
    group = personalize.create_dataset_group(name=unique("reasons"))["datasetGroupArn"]
    wait_status(personalize.describe_dataset_group, "datasetGroup", datasetGroupArn=group)
    schema = personalize.create_schema(name=unique("reasons"), schema=json.dumps(movielens.INTERACTIONS_SCHEMA))
    return personalize.create_dataset(
        name=unique("reasons"), datasetType="INTERACTIONS", datasetGroupArn=group, schemaArn=schema["schemaArn"]
    )["datasetArn"]


@pytest.fixture(scope="module")
def dataset(personalize) -> str:
    return _dataset(personalize)


def _reason(personalize, dataset: str, location: str) -> str:
    job = personalize.create_dataset_import_job(
        jobName=unique("imp"), datasetArn=dataset, dataSource={"dataLocation": location}
    )["datasetImportJobArn"]
    done = wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
    assert done["status"] == "CREATE FAILED"
    return done["failureReason"]


@pytest.mark.parametrize("key", ["missing.csv", "bad.csv", "no-such-folder/"])
def test_import_failure_names_the_s3_location_not_the_endpoint(personalize, dataset, bucket, s3_server, key) -> None:
    reason = _reason(personalize, dataset, f"s3://{bucket}/{key}")
    assert s3_server not in reason and "127.0.0.1" not in reason and "http" not in reason, reason
    assert f"s3://{bucket}/" in reason, reason


def test_import_from_a_missing_bucket(personalize, dataset, s3_server) -> None:
    reason = _reason(personalize, dataset, f"s3://{unique('nobucket')}/x.csv")
    assert s3_server not in reason and "127.0.0.1" not in reason and "http" not in reason, reason


def test_unreachable_s3_endpoint_is_not_named(tmp_path) -> None:
    """The server's S3 endpoint down: the reason says the location could not be read, not where the server looked."""
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {**s3_env(endpoint), "AWS_MAX_ATTEMPTS": "1"}
    srv = Server(tmp_path / "data", None, [], env).start()
    try:
        reason = _reason(srv.client("personalize"), _dataset(srv.client("personalize")), "s3://some-bucket/in.csv")
    finally:
        srv.stop()
    assert endpoint not in reason and "127.0.0.1" not in reason and "http" not in reason, reason
    assert "s3://some-bucket/in.csv" in reason, reason


def test_s3_failure_keeps_s3s_answer_and_drops_addresses() -> None:
    address = "http://10.0.0.5:9000/bucket/key"
    for exc in (
        ReadTimeoutError(endpoint_url=address),
        EndpointConnectionError(endpoint_url=address),
        ProxyConnectionError(proxy_url="http://proxy.internal:3128", error="refused"),
    ):
        assert "10.0.0.5" not in s3_failure(exc) and "internal" not in s3_failure(exc)
        assert type(exc).__name__ in s3_failure(exc)
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")
    assert "AccessDenied" in s3_failure(denied) and "Access Denied" in s3_failure(denied)


def test_a_job_cut_off_mid_read_does_not_name_the_endpoint(tmp_path) -> None:
    """An S3 read failing inside a job's body (a timeout while streaming an object) reaches the job runner's
    catch-all, whose failureReason used to be the exception's text: 'Read timeout on endpoint URL: ...'."""
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    reasons: list[str] = []

    def run(_arn: str) -> None:
        raise ReadTimeoutError(endpoint_url="http://10.0.0.5:9000/bucket/in.csv")

    runner = JobRunner(store, {"import": JobHandler(run, lambda _arn, why: reasons.append(why))}, poll_seconds=0.05)
    store.enqueue("arn:job", "import")
    runner.start()
    try:
        wait_until(lambda: reasons, what="the job's failure")
    finally:
        runner.stop()
    assert reasons == ["Internal error: the S3 endpoint could not be reached (ReadTimeoutError)"]


def test_a_batch_output_into_a_missing_bucket_names_the_location_not_a_temporary_file(server, personalize) -> None:
    """boto3's upload wraps S3's answer in 'Failed to upload /tmp/tmpXXXX.part to ...', which reached the
    failureReason as 'Internal error: S3UploadFailedError: ...' (seen over boto3 by a probe)."""
    version = _train(server.work, personalize)["version"]
    users = server.work / f"{unique('users')}.json"
    users.write_text('{"userId": "u1"}\n')
    location = f"s3://{unique('nobucket')}/out/"
    job = personalize.create_batch_inference_job(
        jobName=unique("batch"),
        solutionVersionArn=version,
        roleArn=ROLE,
        jobInput={"s3DataSource": {"path": str(users)}},
        jobOutput={"s3DataDestination": {"path": location}},
    )["batchInferenceJobArn"]
    done = wait_status(personalize.describe_batch_inference_job, "batchInferenceJob", batchInferenceJobArn=job)
    assert done["status"] == "CREATE FAILED"
    reason = done["failureReason"]
    assert reason.startswith(f"Cannot write {location}{users.name}.out: ") and "NoSuchBucket" in reason, reason
    assert ".part" not in reason and "Internal error" not in reason, reason
