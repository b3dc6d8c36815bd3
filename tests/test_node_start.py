"""``openpersonalize serve`` at start (node.py): an unreachable database or object store, or a second node on
SQLite, ends with one line naming the problem and a non-zero exit, before the port is opened."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from helpers import own_server, wait_until
from openpersonalize import node
from openpersonalize.store.metadata import MetadataStore, Resource
from openpersonalize.store.objects import ObjectStore
from server_harness import ACCESS_KEY, SECRET_KEY, Server, free_port, wait_for_port


def _serve(data_dir: Path, *args: str, **env: str) -> tuple[int, list[str]]:
    """Run ``serve`` expecting it to refuse; its exit code and its ``openpersonalize serve:`` lines."""
    cmd = [sys.executable, "-m", "openpersonalize.cli", "serve", "--port", str(free_port())]
    cmd += ["--data-dir", str(data_dir)]
    full_env = {
        **os.environ,
        "OPENPERSONALIZE_ACCESS_KEY_ID": ACCESS_KEY,
        "OPENPERSONALIZE_SECRET_ACCESS_KEY": SECRET_KEY,
        **env,
    }
    done = subprocess.run([*cmd, *args], env=full_env, capture_output=True, text=True, timeout=120)
    return done.returncode, [line for line in done.stderr.splitlines() if line.startswith("openpersonalize serve:")]


def test_unreachable_postgresql_is_named(tmp_path):
    code, lines = _serve(tmp_path / "data", "--database-url", "postgresql+psycopg://op:hunter2@127.0.0.1:1/op")
    assert code == 1 and len(lines) == 1
    assert "cannot reach the database postgresql+psycopg://op:***@127.0.0.1:1/op" in lines[0]
    assert "hunter2" not in lines[0]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql+psycopg://op:hunter2@127.0.0.1:notaport/op", "--database-url is not a valid URL"),
        ("postgresql+psycopg://op:hun@ter2@127.0.0.1:1/op", "percent-encode an '@' in the password as %40"),
        ("postgresql+psycopg://op@127.0.0.1:1/op?password=hunter2", "op@127.0.0.1:1/op?password=%2A%2A%2A"),
        ("mysql://op:hunter2@127.0.0.1:1/op", "cannot use the database mysql://op:***@127.0.0.1:1/op: its driver"),
    ],
)
def test_a_bad_database_url_is_one_line_that_never_shows_the_password(tmp_path, url, says):
    """A URL that does not parse, a password with an unescaped '@' (its tail would be the 'host' a resolver error
    echoes), a password given as a query argument, a driver not installed: one line, no traceback, no secret."""
    code, lines = _serve(tmp_path / "data", "--database-url", url)
    assert code == 1 and len(lines) == 1 and says in lines[0], lines
    assert "hunter2" not in lines[0] and "ter2" not in lines[0]


@pytest.mark.parametrize(
    ("store", "endpoint"),
    [
        ("s3://AKIAEXAMPLE:hunter2@bucket/prefix", "http://127.0.0.1:1"),
        ("s3://bucket/p", "http://op:hunter2@127.0.0.1:1"),
    ],
)
def test_credentials_in_the_object_store_urls_are_refused_unshown(tmp_path, store, endpoint):
    env = {"OPENPERSONALIZE_S3_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1"}
    code, lines = _serve(tmp_path / "data", "--object-store", store, **env)
    assert code == 1 and len(lines) == 1, lines
    assert "credentials do not belong in its URL or endpoint" in lines[0] and "hunter2" not in lines[0]


def test_a_data_dir_or_local_store_that_cannot_be_made_is_one_line(tmp_path):
    """A regular file where the data dir or the local object store should be: one line naming it (was a traceback)."""
    taken = tmp_path / "taken"
    taken.write_text("a file")
    code, lines = _serve(taken)
    assert code == 1 and lines == [f"openpersonalize serve: cannot use the data dir {taken}: File exists"]
    code, lines = _serve(tmp_path / "data", "--object-store", str(taken))
    assert code == 1 and lines == [f"openpersonalize serve: object store {taken}: cannot make it: File exists"]


def test_unreachable_s3_endpoint_is_named(tmp_path):
    code, lines = _serve(
        tmp_path / "data",
        "--object-store",
        "s3://bucket/prefix",
        OPENPERSONALIZE_S3_ENDPOINT_URL="http://127.0.0.1:1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    assert code == 1 and len(lines) == 1
    assert "cannot reach the object store s3://bucket/prefix (endpoint http://127.0.0.1:1)" in lines[0]


def test_a_second_node_on_one_sqlite_database_or_data_dir_is_refused(tmp_path):
    with own_server(tmp_path) as first:
        code, lines = _serve(tmp_path / "second", "--database-url", f"sqlite:///{first.data_dir / 'metadata.db'}")
        assert code == 1 and len(lines) == 1
        assert "refusing to start" in lines[0] and "SQLite" in lines[0] and f":{first.port}" in lines[0]
        code, lines = _serve(first.data_dir)
        assert code == 1 and len(lines) == 1
        assert "refusing to start" in lines[0] and f"already uses the data dir {first.data_dir}" in lines[0]
    first.start()  # a node stopped cleanly left the registry: the same data dir starts again
    first.stop()


def test_a_node_drops_its_cached_copy_of_a_model_deleted_through_another_node(tmp_path, s3_server, monkeypatch):
    """The node's heartbeat thread sweeps its object cache: a deleted version's copy goes, a live one's stays."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(node, "BEAT_SECONDS", 0.05)
    monkeypatch.setattr(node, "SWEEP_SECONDS", 0.0)
    bucket = f"sweep-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/p"
    database = f"sqlite:///{tmp_path / 'metadata.db'}"
    other_node = MetadataStore(database)
    publisher = ObjectStore.for_node(url, tmp_path / "publisher", s3_server)
    versions = [f"arn:aws:personalize:eu-west-3:000000000000:solution/s/{n}" for n in ("gone", "kept")]
    mine = ObjectStore.for_node(url, tmp_path / "data", s3_server)
    for arn in versions:
        other_node.insert(Resource(arn, "solution_version", arn.rsplit("/", 1)[1], None, "ACTIVE", {}))
        scratch = publisher.scratch_model_dir(arn, "a1")
        (scratch / "model").mkdir(parents=True)
        (scratch / "model" / "weights.npy").write_bytes(b"w")
        mine.local_path(publisher.publish_model(scratch / "model", arn, "a1"))
    cache = tmp_path / "data" / "object-cache" / "models"
    handler = signal.getsignal(signal.SIGTERM)
    started = node.start_node(database, mine, tmp_path / "data", "127.0.0.1:0")
    try:
        assert sorted(p.name for p in cache.iterdir()) == sorted(ObjectStore.model_name(a) for a in versions)
        other_node.delete(versions[0])
        wait_until(lambda: not (cache / ObjectStore.model_name(versions[0])).exists(), what="the sweep")
        assert (cache / ObjectStore.model_name(versions[1]) / "a1" / "weights.npy").exists()
    finally:
        started.leave()
        signal.signal(signal.SIGTERM, handler)


@pytest.mark.postgres
def test_one_bucket_name_on_another_s3_service_is_another_store(tmp_path, s3_server, postgres_url):
    """Node B names the same s3://bucket/prefix as the live node A, on another S3 service: refused. Node C reaches
    A's service by another spelling of its endpoint, with a trailing slash in the URL: the same store, it starts."""
    port = free_port()
    other = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)])
    try:
        wait_for_port(port, other)
        bucket = f"same-{uuid.uuid4().hex[:8]}"
        for endpoint in (s3_server, f"http://127.0.0.1:{port}"):
            s3 = boto3.client(
                "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
            )
            s3.create_bucket(Bucket=bucket)
        env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
        store = ["--object-store", f"s3://{bucket}/p"]
        a = Server(tmp_path / "a", postgres_url, [], {**env, "OPENPERSONALIZE_S3_ENDPOINT_URL": s3_server}, args=store)
        a.start()
        try:
            code, lines = _serve(
                tmp_path / "b",
                "--database-url",
                postgres_url,
                *store,
                OPENPERSONALIZE_S3_ENDPOINT_URL=f"http://127.0.0.1:{port}",
                **env,
            )
            assert code == 1 and len(lines) == 1, lines
            assert f"serves from object store s3://{bucket}/p (store " in lines[0] and "this node from" in lines[0]
            spelled = s3_server.replace("127.0.0.1", "localhost")
            c_env = {**env, "OPENPERSONALIZE_S3_ENDPOINT_URL": spelled}
            c = Server(tmp_path / "c", postgres_url, [], c_env, args=["--object-store", f"s3://{bucket}/p/"])
            c.start()
            c.stop()
        finally:
            a.stop()
    finally:
        other.terminate()
        other.wait(10)
