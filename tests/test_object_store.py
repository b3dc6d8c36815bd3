"""The object store (store/objects.py): publish, fetch into a node's cache, remove; local and on S3 (moto)."""

from __future__ import annotations

import json
import pickle
import uuid
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from openpersonalize.store import objects
from openpersonalize.store.objects import ObjectMissing, ObjectStore, ObjectStoreError, StoreLocation, new_snapshot
from server_harness import free_port

VERSION = "arn:aws:personalize:eu-west-3:000000000000:solution/s/abc"
DATASET = "arn:aws:personalize:eu-west-3:000000000000:dataset/g/INTERACTIONS"


@pytest.fixture
def s3_env(s3_server, monkeypatch) -> str:
    """A fresh bucket on the moto server; its s3:// URL."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"store-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/prefix"


def _model(store: ObjectStore, attempt: str) -> Path:
    scratch = store.scratch_model_dir(VERSION, attempt)
    (scratch / "model").mkdir(parents=True)
    (scratch / "model" / "manifest.json").write_text(json.dumps({"attempt": attempt}))
    (scratch / "model" / "weights.npy").write_bytes(b"w" * 3000)
    return scratch / "model"


def test_local_store_publishes_in_place(tmp_path):
    store = ObjectStore.for_node(None, tmp_path / "data")
    store.check()
    key = store.publish_model(_model(store, "a1"), VERSION, "a1")
    assert key == f"models/{ObjectStore.model_name(VERSION)}/a1"
    assert store.local_path(key) == tmp_path / "data" / "objects" / key
    assert (store.local_path(key) / "weights.npy").read_bytes() == b"w" * 3000
    store.remove_model(VERSION)
    assert not (tmp_path / "data" / "objects" / key).exists()


def test_s3_store_model_is_fetched_once_into_another_nodes_cache(tmp_path, s3_env, s3_server):
    a = ObjectStore.for_node(s3_env, tmp_path / "a", s3_server)
    b = ObjectStore.for_node(s3_env, tmp_path / "b", s3_server)
    a.check()
    key = a.publish_model(_model(a, "a1"), VERSION, "a1")
    second = a.publish_model(_model(a, "a2"), VERSION, "a2")  # a rerun never overwrites the first key
    assert key != second
    local = b.local_path(key)
    assert local == tmp_path / "b" / "object-cache" / key
    assert (local / "manifest.json").read_text() == json.dumps({"attempt": "a1"})
    assert (local / "weights.npy").read_bytes() == b"w" * 3000
    assert list((tmp_path / "b" / "object-cache" / ".fetching").iterdir()) == []
    # picklable for a job worker elsewhere, which reopens the same store
    c = pickle.loads(pickle.dumps(ObjectStore.for_node(s3_env, tmp_path / "c", s3_server)))
    assert (c.local_path(second) / "manifest.json").read_text() == json.dumps({"attempt": "a2"})
    a.remove_model(VERSION)
    with pytest.raises(ObjectStoreError, match="does not exist"):
        ObjectStore.for_node(s3_env, tmp_path / "d", s3_server).local_path(key)


def test_s3_snapshot_publish_and_fetch(tmp_path, s3_env, s3_server):
    a = ObjectStore.for_node(s3_env, tmp_path / "a", s3_server)
    work, final, _ = new_snapshot(a.dataset_dir(DATASET))
    (work / "part-1.parquet").write_bytes(b"PAR1")
    work.rename(final)
    key = a.publish(final)
    assert key.startswith("datasets/") and (tmp_path / "a" / "object-cache" / key).is_dir()
    b = ObjectStore.for_node(s3_env, tmp_path / "b", s3_server)
    assert (b.local_path(key) / "part-1.parquet").read_bytes() == b"PAR1"
    b.remove_dataset(DATASET)
    assert not (tmp_path / "b" / "object-cache" / key).exists()
    with pytest.raises(ObjectStoreError):
        ObjectStore.for_node(s3_env, tmp_path / "c", s3_server).local_path(key)


def test_unreachable_or_missing_store_is_one_line_naming_it(tmp_path, s3_env, s3_server):
    down = ObjectStore(StoreLocation("s3://bucket/prefix", "http://127.0.0.1:1"), tmp_path / "cache")
    with pytest.raises(ObjectStoreError) as err:
        down.check()
    assert "s3://bucket/prefix" in str(err.value) and "127.0.0.1:1" in str(err.value)
    assert "\n" not in str(err.value)
    missing = ObjectStore(StoreLocation("s3://no-such-bucket-here/p", s3_server), tmp_path / "cache")
    with pytest.raises(ObjectStoreError, match="bucket no-such-bucket-here does not exist"):
        missing.check()
    with pytest.raises(ObjectStoreError, match="no bucket named"):
        ObjectStore(StoreLocation("s3://", s3_server), tmp_path / "cache").check()


def test_keys_never_leave_the_store_or_the_cache(tmp_path, s3_env, s3_server):
    """Absolute keys, '..' segments and keys outside datasets/ and models/ are no keys: nothing is read there."""
    local = ObjectStore.for_node(None, tmp_path / "local")
    remote = ObjectStore.for_node(s3_env, tmp_path / "remote", s3_server)
    for store in (local, remote):
        for key in ("/etc", "models/../../../etc", "models/v/..", "models//x", "etc", "models\\..\\x"):
            with pytest.raises(ObjectMissing, match="is not an artifact key") as err:
                store.local_path(key)
            assert (err.value.code, err.value.status) == ("ResourceNotFoundException", 404)


def test_a_stored_file_named_outside_its_directory_refuses_the_fetch(tmp_path, s3_env, s3_server):
    bucket, prefix = s3_env[len("s3://") :].split("/", 1)
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/models/v/a1/manifest.json", Body=b"{}")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/models/v/a1/../../../../../escaped", Body=b"planted")
    store = ObjectStore.for_node(s3_env, tmp_path / "node" / "data", s3_server)
    with pytest.raises(ObjectStoreError, match="names a place outside it"):
        store.local_path("models/v/a1")
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []
    assert not (tmp_path / "node" / "data" / "object-cache" / "models").exists()


def test_a_link_planted_in_the_cache_is_refused(tmp_path, s3_env, s3_server):
    """A link in DATA_DIR/object-cache pointing elsewhere: no fetch is written through it, no removal follows it."""
    a = ObjectStore.for_node(s3_env, tmp_path / "a", s3_server)
    key = a.publish_model(_model(a, "a1"), VERSION, "a1")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / ObjectStore.model_name(VERSION)).mkdir(parents=True)
    (elsewhere / ObjectStore.model_name(VERSION) / "keep").write_text("not the cache's")
    b = ObjectStore.for_node(s3_env, tmp_path / "b", s3_server)
    (tmp_path / "b" / "object-cache").mkdir(parents=True)
    (tmp_path / "b" / "object-cache" / "models").symlink_to(elsewhere)
    with pytest.raises(ObjectStoreError, match="resolves outside"):
        b.local_path(key)
    b.remove_model(VERSION)  # the version is gone all the same (from the store too); the link is not followed
    (tmp_path / "b" / "object-cache" / "datasets").mkdir()
    (tmp_path / "b" / "object-cache" / "datasets" / "planted").symlink_to(elsewhere)
    assert b.sweep_cache(b.cached_resources(), []) == ["models/" + ObjectStore.model_name(VERSION), "datasets/planted"]
    assert sorted(p.name for p in elsewhere.rglob("*")) == ["keep", ObjectStore.model_name(VERSION)]
    assert not (tmp_path / "b" / "object-cache" / "datasets" / "planted").exists()
    with pytest.raises(ObjectMissing):
        ObjectStore.for_node(s3_env, tmp_path / "c", s3_server).local_path(key)


def test_a_failed_fetch_is_remembered_for_a_moment(tmp_path, s3_env, s3_server, monkeypatch):
    """Requests behind a failed fetch fail at once with its error instead of each trying the store again."""
    a = ObjectStore.for_node(s3_env, tmp_path / "a", s3_server)
    key = a.publish_model(_model(a, "a1"), VERSION, "a1")
    port = free_port()
    b = ObjectStore.for_node(s3_env, tmp_path / "b", f"http://127.0.0.1:{port}")
    with pytest.raises(ObjectStoreError, match="fetching") as first:
        b.local_path(key)
    assert (first.value.code, first.value.status) == ("ServiceUnavailable", 503)  # as any request path answers it
    back = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)  # the store is back (moto's state)
    back.start()
    try:
        with pytest.raises(ObjectStoreError) as again:
            b.local_path(key)
        assert again.value is first.value  # within the memo the remembered failure answers
        monkeypatch.setattr(objects, "FAILURE_MEMO_SECONDS", 0.0)
        assert (b.local_path(key) / "weights.npy").read_bytes() == b"w" * 3000
    finally:
        back.stop()


def test_sweep_drops_cached_copies_of_deleted_resources_only(tmp_path, s3_env, s3_server):
    a = ObjectStore.for_node(s3_env, tmp_path / "a", s3_server)
    model = a.publish_model(_model(a, "a1"), VERSION, "a1")
    work, final, _ = new_snapshot(a.dataset_dir(DATASET))
    (work / "part.parquet").write_bytes(b"PAR1")
    work.rename(final)
    snapshot = a.publish(final)
    b = ObjectStore.for_node(s3_env, tmp_path / "b", s3_server)
    b.local_path(model)
    b.local_path(snapshot)
    scratch = b.scratch_model_dir(VERSION + "x", "t1")  # a training's scratch: never swept
    scratch.mkdir(parents=True)
    listed = b.cached_resources()
    assert b.sweep_cache(listed, [DATASET, "arn:aws:personalize:eu-west-3:000000000000:solution/other"]) == [
        f"models/{ObjectStore.model_name(VERSION)}"
    ]
    cache = tmp_path / "b" / "object-cache"
    assert not (cache / model).exists() and (cache / snapshot / "part.parquet").exists() and scratch.is_dir()
    assert (b.local_path(model) / "weights.npy").read_bytes() == b"w" * 3000  # the store still holds it
    assert ObjectStore.for_node(None, tmp_path / "local").cached_resources() == []  # a local store is no cache


def test_fingerprint_names_the_store_itself(tmp_path, s3_env, s3_server):
    """A local store is its directory; an S3 store its normalised URL and the id its marker holds (kept once made)."""
    assert ObjectStore.for_node(None, tmp_path / "data").fingerprint() == str(tmp_path / "data" / "objects")
    first = ObjectStore.for_node(s3_env, tmp_path / "a", s3_server).fingerprint()
    again = ObjectStore.for_node(s3_env + "/", tmp_path / "b", s3_server.replace("127.0.0.1", "localhost"))
    assert first.startswith(f"{s3_env} (store ") and again.fingerprint() == first
