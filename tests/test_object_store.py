"""The object store (store/objects.py): publish, fetch into a node's cache, remove; local and on S3 (moto)."""

from __future__ import annotations

import json
import pickle
import uuid
from pathlib import Path

import boto3
import pytest

from openpersonalize.store.objects import ObjectStore, ObjectStoreError, StoreLocation, new_snapshot

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
