"""A node whose object store (S3) loses a snapshot or goes down while requests need a fetch, over boto3.

The node serves from ``s3://`` through a switchable TCP relay in front of moto's server, so the test
can take the store away and bring it back. A request whose deployment needs a copy the node does
not hold answers ResourceNotFoundException when the store lost it and ServiceUnavailable (503, AWS's
retryable code) while the store is unreachable, never InternalFailure; the node keeps answering
everything else meanwhile and serves again once the store is back.
"""

from __future__ import annotations

import random
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from helpers import concurrently, deploy, error_code, error_message, import_dataset, train, wait_until
from openpersonalize.data import movielens
from openpersonalize.store.objects import ObjectStore
from server_harness import Server, free_port, unique, wait_status

PREFIX = "openpersonalize"


class Relay:
    """A TCP relay on a fixed loopback port to ``target``; ``stop`` refuses connections until ``start``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Close the port and every relayed connection: the store is unreachable."""
        assert self._listener is not None
        self._listener.close()
        for conn in self._open:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._open += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@pytest.fixture(scope="module")
def node(tmp_path_factory, s3_server) -> Iterator[dict]:
    """A SQLite node on ``s3://bucket/openpersonalize`` through a relay; its server, relay, s3 client, bucket."""
    root = tmp_path_factory.mktemp("outage")
    host, port = s3_server.rsplit("/", 1)[1].split(":")
    relay = Relay((host, int(port)))
    relay.start()
    s3 = boto3.client(
        "s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    bucket = unique("outage")
    s3.create_bucket(Bucket=bucket)
    env = {
        "OPENPERSONALIZE_S3_ENDPOINT_URL": relay.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    (root / "work").mkdir()
    srv = Server(root / "data", None, [root / "work"], env, args=["--object-store", f"s3://{bucket}/{PREFIX}"])
    srv.start()
    try:
        yield {"server": srv, "relay": relay, "s3": s3, "bucket": bucket, "work": root / "work"}
    finally:
        srv.stop()
        with suppress(AssertionError, OSError):
            relay.stop()


def _csv(path: Path, header: str, rows: list[str]) -> str:
    path.write_text(header + "\n" + "".join(row + "\n" for row in rows))
    return str(path)


@pytest.fixture(scope="module")
def deployed(node) -> dict[str, str]:
    """A popularity campaign on a group with ITEMS; the campaign's and the ITEMS dataset's ARNs."""
    personalize = node["server"].client()
    rng = random.Random(3)
    interactions = [f"u{n % 30},i{rng.randrange(40)},watch,{1_700_000_000 + n}" for n in range(1200)]
    group = personalize.create_dataset_group(name=unique("outage"))["datasetGroupArn"]
    work = node["work"]
    location = _csv(work / "ints.csv", "USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP", interactions)
    import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, location)
    items = [f"i{n},Drama,{1990 + n}" for n in range(40)]
    location = _csv(work / "items.csv", "ITEM_ID,GENRE,YEAR", items)
    items_arn = import_dataset(personalize, group, "ITEMS", movielens.ITEMS_SCHEMA, location)
    versions = train(personalize, group, ["aws-popularity-count"])
    campaign = deploy(personalize, versions)["aws-popularity-count"]
    return {"campaign": campaign, "items": items_arn}


def _reimport_items(node, items_arn: str) -> None:
    """A new ITEMS snapshot (published by this node, which keeps a copy), then that copy removed from its disk."""
    personalize = node["server"].client()
    job = personalize.create_dataset_import_job(
        jobName=unique("imp"), datasetArn=items_arn, dataSource={"dataLocation": str(node["work"] / "items.csv")}
    )["datasetImportJobArn"]
    done = wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    cached = node["server"].data_dir / "object-cache" / "datasets" / ObjectStore.model_name(items_arn)
    assert cached.is_dir()
    shutil.rmtree(cached)


def _recommend(node, campaign: str) -> list[str]:
    runtime = node["server"].client("personalize-runtime")
    return [i["itemId"] for i in runtime.get_recommendations(campaignArn=campaign, userId="u1")["itemList"]]


def test_an_unreachable_store_is_service_unavailable_and_never_wedges_the_node(node, deployed):
    expected = _recommend(node, deployed["campaign"])
    _reimport_items(node, deployed["items"])
    node["relay"].stop()
    try:
        with pytest.raises(ClientError) as err:
            wait_until(lambda: not _recommend(node, deployed["campaign"]), what="the new snapshot to be needed")
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert error_code(err) == "ServiceUnavailable"
        assert "cannot be read from the object store now" in error_message(err)
        assert "testing" not in error_message(err) and node["relay"].url not in error_message(err)
        # a burst of requests behind the failed fetch all answer, and the control plane goes on answering
        personalize = node["server"].client()
        answers = concurrently(
            *[lambda: _recommend(node, deployed["campaign"])] * 12,
            lambda: personalize.describe_campaign(campaignArn=deployed["campaign"])["campaign"]["status"],
        )
        assert answers[:-1] == ["ServiceUnavailable"] * 12 and answers[-1] == "ACTIVE"
    finally:
        node["relay"].start()
    served: list[list[str]] = []

    def recovered() -> bool:
        with suppress(ClientError):
            served.append(_recommend(node, deployed["campaign"]))
        return bool(served)

    wait_until(recovered, what="the node to serve once the store is back")
    assert served[0] == expected
    assert not list((node["server"].data_dir / "object-cache" / ".fetching").iterdir())


def test_a_snapshot_lost_from_the_store_is_not_found(node, deployed):
    """Last here: the dataset's current snapshot is gone for good (a later import of it fails)."""
    assert _recommend(node, deployed["campaign"])
    _reimport_items(node, deployed["items"])
    stored = f"{PREFIX}/datasets/{ObjectStore.model_name(deployed['items'])}/"
    listed = node["s3"].list_objects_v2(Bucket=node["bucket"], Prefix=stored)["Contents"]
    node["s3"].delete_objects(Bucket=node["bucket"], Delete={"Objects": [{"Key": o["Key"]} for o in listed]})
    with pytest.raises(ClientError) as err:
        wait_until(lambda: not _recommend(node, deployed["campaign"]), what="the new snapshot to be needed")
    assert error_code(err) == "ResourceNotFoundException"
    assert "no longer exists" in error_message(err) and "datasets/" in error_message(err)
