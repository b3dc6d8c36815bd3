"""Dataset exports in parts (issue 15): one executor task per part, published only when every part is written.

A server on an S3 object store (moto's server) whose parts hold 30,000 rows exports
ml-latest-small's interactions over boto3: to ``s3://`` as several CSV parts whose rows, in order,
are the imported rows then the PutEvents ones; with one row group of its snapshot corrupted, it
ends CREATE FAILED leaving nothing under the job's folder, neither the parts that were written nor
their staging area; links planted where a local export's parts and staging area go are never
followed. The parts written by Ray tasks (a local two-node cluster, ``serve --executor
ray``) equal, byte for byte, those of the local process pool.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import io
import uuid
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from ray_cluster import ray_cluster

from helpers import ROLE, import_dataset, requires, s3_env
from openpersonalize.control.dataset_export import PART_ROWS_ENV
from openpersonalize.data import movielens
from server_harness import Server, unique, wait_status

PART_ROWS = 30_000
ray_installed = importlib.util.find_spec("ray") is not None
COLUMNS = ["USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"]
STORE_BUCKET = f"store-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def s3(s3_server: str) -> Any:
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", **keys)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, s3_server: str, s3: Any) -> Server:
    """A server on an object store in S3 (``STORE_BUCKET``), as in production: parts read the snapshot from there."""
    root = tmp_path_factory.mktemp("export-parts")
    work = root / "work"
    work.mkdir()
    s3.create_bucket(Bucket=STORE_BUCKET)
    env = {**s3_env(s3_server), PART_ROWS_ENV: str(PART_ROWS)}
    server = Server(root / "data", None, [work], env, ["--object-store", f"s3://{STORE_BUCKET}/store"]).start()
    server.work = work  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ratings(movielens_dir: Path) -> list[list[str]]:
    table = movielens.prepare_interactions(movielens_dir / "ratings.csv")
    return [[str(v) for v in row.values()] for row in table.select(COLUMNS).to_pylist()]


def _imported(node: Server, movielens_dir: Path) -> tuple[Any, str, str]:
    """(client, group, INTERACTIONS dataset) of a new group holding ml-latest-small's interactions."""
    personalize = node.client()
    group = personalize.create_dataset_group(name=unique("export"))["datasetGroupArn"]
    wait_status(personalize.describe_dataset_group, "datasetGroup", datasetGroupArn=group)
    ints = movielens.prepare_interactions(movielens_dir / "ratings.csv")
    path = movielens.write_csv(ints, node.work / (unique("ints") + ".csv"))  # type: ignore[attr-defined]
    dataset = import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(path))
    return personalize, group, dataset


def _export(personalize: Any, dataset: str, path: str, mode: str, name: str | None = None) -> dict[str, Any]:
    arn = personalize.create_dataset_export_job(
        jobName=name or unique("exp"),
        datasetArn=dataset,
        ingestionMode=mode,
        roleArn=ROLE,
        jobOutput={"s3DataDestination": {"path": path}},
    )["datasetExportJobArn"]
    return wait_status(personalize.describe_dataset_export_job, "datasetExportJob", datasetExportJobArn=arn)


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


@pytest.fixture(scope="module")
def imported(node: Server, movielens_dir: Path) -> tuple[Any, str, str]:
    """A group of the suite's own with ml-latest-small's interactions (the tests that leave it whole share it)."""
    return _imported(node, movielens_dir)


def test_export_to_s3_in_parts_holds_every_row_in_order(node, s3, imported, ratings):
    personalize, group, dataset = imported
    tracker = personalize.create_event_tracker(name=unique("tracker"), datasetGroupArn=group)
    wait_status(personalize.describe_event_tracker, "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
    tracking = tracker["trackingId"]
    sent = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    live = [["live-user", item, "watch", str(int(sent.timestamp()))] for item in ("1", "50", "260")]
    node.client("personalize-events").put_events(
        trackingId=tracking,
        userId="live-user",
        sessionId="s1",
        eventList=[{"eventType": "watch", "itemId": item, "sentAt": sent} for _, item, _, _ in live],
    )
    bucket = unique("bucket")
    s3.create_bucket(Bucket=bucket)

    job = _export(personalize, dataset, f"s3://{bucket}/exports/", "ALL")

    assert job["status"] == "ACTIVE", job.get("failureReason")
    keys = _keys(s3, bucket, f"exports/{job['jobName']}/")
    parts = -(-len(ratings) // PART_ROWS)
    assert parts > 1
    assert keys == [f"exports/{job['jobName']}/interactions_part{n:05d}.csv" for n in range(parts)]
    rows = []
    for key in keys:
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        reader = csv.DictReader(io.StringIO(text))
        assert reader.fieldnames == COLUMNS
        rows.extend([row[c] for c in COLUMNS] for row in reader)
    assert rows == ratings + live


def test_a_local_export_never_writes_through_planted_links(node, imported, ratings, tmp_path):
    """Links planted where the parts and their staging area go, leading out of the allowed directory, are replaced
    or skipped, never followed: the files outside keep their content, the parts are regular files."""
    personalize, _, dataset = imported
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.csv").write_text("untouched\n")
    dst, name = node.work / unique("local"), unique("exp")  # type: ignore[attr-defined]
    (dst / name).mkdir(parents=True)
    (dst / name / ".staging-0123456789abcdef").symlink_to(outside, target_is_directory=True)
    (dst / name / "interactions_part00001.csv").symlink_to(outside / "victim.csv")

    job = _export(personalize, dataset, str(dst), "BULK", name)

    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert sorted(p.name for p in outside.iterdir()) == ["victim.csv"]
    assert (outside / "victim.csv").read_text() == "untouched\n"
    parts = sorted(p for p in (dst / name).iterdir() if p.suffix == ".csv")
    assert len(parts) == -(-len(ratings) // PART_ROWS) and not any(p.is_symlink() for p in parts)
    assert sum(len(p.read_text().splitlines()) - 1 for p in parts) == len(ratings)


def _snapshot_keys(s3: Any, group: str) -> set[str]:
    """The stored Parquet files of the group's snapshots (every snapshot ever published, newest included)."""
    name = group.rsplit("/", 1)[1]
    return {k for k in _keys(s3, STORE_BUCKET, "store/datasets/") if name in k and k.endswith(".parquet")}


def _corrupt_row_group(s3: Any, key: str, group: int) -> None:
    """Overwrite the pages of one row group of a stored Parquet file, its footer left whole (metadata still reads)."""
    data = bytearray(s3.get_object(Bucket=STORE_BUCKET, Key=key)["Body"].read())
    meta = pq.read_metadata(io.BytesIO(data))
    assert meta.num_row_groups > group, f"the snapshot has {meta.num_row_groups} row groups"
    for column in range(meta.num_columns):
        chunk = meta.row_group(group).column(column)
        start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
        data[start : start + chunk.total_compressed_size] = b"\xff" * chunk.total_compressed_size
    assert pq.read_metadata(io.BytesIO(data)).num_rows == meta.num_rows
    s3.put_object(Bucket=STORE_BUCKET, Key=key, Body=bytes(data))


def test_a_failed_part_leaves_nothing_that_looks_complete(node, s3, movielens_dir):
    """The deletion rewrites the snapshot as one file of several row groups; the second one cannot be read."""
    personalize, group, dataset = _imported(node, movielens_dir)
    imported = _snapshot_keys(s3, group)
    ids = node.work / (unique("delete") + ".csv")  # type: ignore[attr-defined]
    ids.write_text("USER_ID\n7\n")
    deletion = personalize.create_data_deletion_job(
        jobName=unique("del"), datasetGroupArn=group, roleArn=ROLE, dataSource={"dataLocation": str(ids)}
    )["dataDeletionJobArn"]
    done = wait_status(personalize.describe_data_deletion_job, "dataDeletionJob", dataDeletionJobArn=deletion)
    assert done["status"] == "COMPLETED", done.get("failureReason")
    (rewritten,) = _snapshot_keys(s3, group) - imported
    _corrupt_row_group(s3, rewritten, 1)
    bucket = unique("bucket")
    s3.create_bucket(Bucket=bucket)

    job = _export(personalize, dataset, f"s3://{bucket}/exports/", "BULK")

    assert job["status"] == "CREATE FAILED"
    assert job["failureReason"].startswith("Export failed: ") and "thrift" in job["failureReason"]
    assert _keys(s3, bucket, "exports/") == []


@requires(ray_installed, "Ray is not installed (pip install -e '.[ray]')")
def test_export_on_ray_equals_local(tmp_path: Path, movielens_dir: Path, ratings: list[list[str]]) -> None:
    """The same export's parts written by Ray tasks (``serve --executor ray``) and by this node's processes."""
    work = tmp_path / "work"
    work.mkdir()
    cluster = ray_cluster(nodes=2)
    try:

        def export(executor: str, env: dict[str, str], dataset: str | None = None) -> tuple[str, list[Path]]:
            settings = {PART_ROWS_ENV: str(PART_ROWS), **env}
            node = Server(tmp_path / "data", None, [work], settings, ["--executor", executor]).start()
            node.work = work  # type: ignore[attr-defined]
            try:
                if dataset is None:
                    _, _, dataset = _imported(node, movielens_dir)
                job = _export(node.client(), dataset, str(work / executor), "BULK")
            finally:
                node.stop()
            assert job["status"] == "ACTIVE", job.get("failureReason")
            return dataset, sorted((work / executor / job["jobName"]).iterdir())

        before = cluster.task_counts()
        dataset, on_ray = export("ray", {"RAY_ADDRESS": cluster.address})
        ran = cluster.task_counts() - before
        _, local = export("local", {}, dataset)
    finally:
        cluster.stop()
    names = [f"interactions_part{n:05d}.csv" for n in range(-(-len(ratings) // PART_ROWS))]
    assert [p.name for p in on_ray] == [p.name for p in local] == names
    assert [p.read_bytes() for p in on_ray] == [p.read_bytes() for p in local]
    assert ran["_answer_item"] >= len(names), ran


def test_a_lost_snapshot_fails_without_naming_the_store(node, s3, movielens_dir, s3_server):
    """The server's object store is the operator's: its bucket and endpoint go to the log, not to the caller."""
    personalize, group, dataset = _imported(node, movielens_dir)
    for key in _snapshot_keys(s3, group):
        s3.delete_object(Bucket=STORE_BUCKET, Key=key)
    bucket = unique("bucket")
    s3.create_bucket(Bucket=bucket)

    job = _export(personalize, dataset, f"s3://{bucket}/exports/", "BULK")

    assert job["status"] == "CREATE FAILED"
    reason = job["failureReason"]
    assert STORE_BUCKET not in reason and s3_server not in reason and "127.0.0.1" not in reason, reason
    assert "could not read the dataset's stored data" in reason, reason
    assert _keys(s3, bucket, "exports/") == []
