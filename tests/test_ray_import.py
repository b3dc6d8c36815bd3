"""A large CSV import on Ray (issue 15, "Jobs on Ray"): the byte-range tasks run as Ray tasks and make the
snapshot the local executor makes.

A local two-node Ray cluster (one CPU each, as ``tests/test_ray_jobs.py`` starts it) whose workers
have the S3 credentials; a server joined to it (``--executor ray``) with an S3 object store imports
an unquoted ml-latest-small interactions file from ``s3://``, split from 1 MiB into byte ranges, each
read and written into the store by a Ray task; a server on the local executor imports the same
object. Both snapshots, read back from the store, equal the single-process import's, row for row.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pyarrow.csv as pacsv
import pytest
from ray_cluster import ray_cluster
from test_import_parts import create_dataset, run_import, snapshot_key

from helpers import requires, s3_env
from openpersonalize.data import movielens
from openpersonalize.data.csv_import import CsvSource, import_csv, read_snapshot
from openpersonalize.data.csv_parts import PART_BYTES_ENV
from openpersonalize.data.schema import parse_schema
from openpersonalize.store.objects import ObjectStore, StoreLocation
from server_harness import Server, unique

try:
    import ray
except ImportError:  # the ray extra is missing: requires() below fails the module in CI, skips it elsewhere
    ray = None

pytestmark = requires(ray is not None, "Ray is not installed (pip install -e '.[ray]')")

PART_BYTES = 1 << 20


def test_import_on_ray_equals_local(
    s3_server: str, movielens_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = s3_env(s3_server)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    csv = tmp_path / "interactions.csv"
    table = movielens.prepare_interactions(movielens_dir / "ratings.csv")
    pacsv.write_csv(table, csv, pacsv.WriteOptions(quoting_style="none"))
    s3 = boto3.client("s3", endpoint_url=s3_server)
    bucket = unique("rayimport")
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(csv), bucket, "input/interactions.csv")
    store_url = f"s3://{bucket}/store"
    ranges = -(-csv.stat().st_size // PART_BYTES)
    assert ranges >= 3

    def imported(executor: str, extra_env: dict[str, str]) -> str:
        node_env = {**env, PART_BYTES_ENV: str(PART_BYTES), **extra_env}
        args = ["--object-store", store_url, "--executor", executor]
        (tmp_path / executor).mkdir()
        server = Server(tmp_path / executor / "data", None, [], node_env, args=args).start()
        try:
            personalize = server.client()
            dataset = create_dataset(personalize, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA)
            done = run_import(personalize, dataset, f"s3://{bucket}/input/interactions.csv")
            assert done["status"] == "ACTIVE", done.get("failureReason")
            return snapshot_key(server, dataset)
        finally:
            server.stop()

    cluster = ray_cluster(nodes=2, env=env)
    try:
        before = cluster.task_counts()
        on_ray = imported("ray", {"RAY_ADDRESS": cluster.address})
        ran = cluster.task_counts() - before
    finally:
        cluster.stop()
    assert ran["_answer_item"] >= ranges, ran
    locally = imported("local", {})

    store = ObjectStore(StoreLocation(store_url, s3_server), tmp_path / "reader")
    schema = parse_schema(json.dumps(movielens.INTERACTIONS_SCHEMA))
    source = CsvSource(csv.name, lambda: open(csv, "rb"))  # noqa: SIM115 - the importer closes it
    expected = read_snapshot(import_csv([source], schema, "INTERACTIONS", tmp_path / "one", None, "FULL").snapshot)
    ray_parts = list(store.local_path(on_ray).glob("*.parquet"))
    assert len(ray_parts) == ranges
    assert read_snapshot(store.local_path(on_ray)).equals(expected)
    assert read_snapshot(store.local_path(locally)).equals(expected)
