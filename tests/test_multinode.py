"""Two server nodes sharing one PostgreSQL database and one S3 object store, driven over boto3 (issue 15).

What the README's "Running on several machines" starts: moto's S3 server as the object store, a
fresh PostgreSQL database, a local Ray cluster of two one-CPU nodes running the jobs' steps
(``--executor ray``), nodes A and B (``serve --database-url postgresql+psycopg://…
--object-store s3://…``, each with its own data dir and port). ml-latest-small is imported from
s3:// and user-personalization trained; both nodes must answer alike, see each other's events
at once, keep every acknowledged event of a SIGKILLed node, finish a training whose node was
SIGKILLed, and switch a campaign without a failed request. Run alone: ``pytest -m multinode``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError
from ray_cluster import RayCluster, ray_cluster

from helpers import RECIPE, ROLE, deploy, s3_env, wait_until
from openpersonalize.data import movielens
from openpersonalize.store.database_url import DATABASE_URL_ENV
from server_harness import Server, unique, wait_status

pytestmark = pytest.mark.multinode

USERS = [str(u) for u in range(1, 31)]


@dataclass
class Cluster:
    """The shared state and the two nodes (restarted in place after a kill, on a new port)."""

    nodes: dict[str, Server]
    database_url: str
    bucket: str
    s3: object
    env: dict[str, str]
    root: Path
    ray: RayCluster

    def client(self, node: str, service: str = "personalize"):
        return self.nodes[node].client(service)

    def node_of_pid(self, pid: int) -> str:
        return next(name for name, srv in self.nodes.items() if srv.proc is not None and srv.proc.pid == pid)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, s3_server, postgres_url) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("multinode")
    env = s3_env(s3_server)
    s3 = boto3.client(
        "s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="x"
    )
    bucket = unique("multinode")
    s3.create_bucket(Bucket=bucket)
    ray = ray_cluster(nodes=2, env={**env, DATABASE_URL_ENV: postgres_url})  # batch tasks' database password
    nodes = {}
    try:
        for name in ("a", "b"):
            (root / name).mkdir()
            args = ["--object-store", f"s3://{bucket}/openpersonalize", "--executor", "ray"]
            node_env = {**env, "RAY_ADDRESS": ray.address}
            nodes[name] = Server(root / name / "data", postgres_url, [], node_env, args=args).start()
        yield Cluster(nodes, postgres_url, bucket, s3, env, root, ray)
    finally:
        for srv in nodes.values():
            srv.stop()
        ray.stop()


@pytest.fixture(scope="module")
def group(cluster, movielens_dir, tmp_path_factory) -> dict[str, str]:
    """ml-latest-small imported from s3:// through node A; the group's and the dataset's ARNs."""
    local = movielens.write_csv(
        movielens.prepare_interactions(movielens_dir / "ratings.csv"), tmp_path_factory.mktemp("csv") / "ints.csv"
    )
    cluster.s3.upload_file(str(local), cluster.bucket, "input/interactions.csv")
    personalize = cluster.client("a")
    arn = personalize.create_dataset_group(name=unique("mn"))["datasetGroupArn"]
    schema = json.dumps(movielens.INTERACTIONS_SCHEMA)
    schema = personalize.create_schema(name=unique("ints"), schema=schema)["schemaArn"]
    dataset = personalize.create_dataset(
        name=unique("ints"), datasetType="INTERACTIONS", datasetGroupArn=arn, schemaArn=schema
    )["datasetArn"]
    job = personalize.create_dataset_import_job(
        jobName=unique("imp"),
        datasetArn=dataset,
        dataSource={"dataLocation": f"s3://{cluster.bucket}/input/interactions.csv"},
        roleArn=ROLE,
    )["datasetImportJobArn"]
    done = wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    tracker = personalize.create_event_tracker(name=unique("trk"), datasetGroupArn=arn)["trackingId"]
    return {"group": arn, "dataset": dataset, "tracking": tracker}


@pytest.fixture(scope="module")
def solution(cluster, group) -> str:
    personalize = cluster.client("a")
    return personalize.create_solution(
        name=unique("up"), datasetGroupArn=group["group"], recipeArn=RECIPE + "aws-user-personalization"
    )["solutionArn"]


@pytest.fixture(scope="module")
def campaign(cluster, solution) -> dict[str, str]:
    """The first version trained (through A) and deployed (through B)."""
    version = cluster.client("a").create_solution_version(solutionArn=solution)["solutionVersionArn"]
    describe = cluster.client("b").describe_solution_version
    done = wait_status(describe, "solutionVersion", 900, solutionVersionArn=version)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    return {"version": version, "campaign": deploy(cluster.client("b"), {"up": version})["up"]}


def _items(runtime, campaign_arn: str, user: str, **extra) -> list[tuple[str, float]]:
    items = runtime.get_recommendations(campaignArn=campaign_arn, userId=user, numResults=25, **extra)["itemList"]
    return [(i["itemId"], i.get("score")) for i in items]


def _put(events, tracking: str, user: str, items: list[str], start: int) -> None:
    events.put_events(
        trackingId=tracking,
        userId=user,
        sessionId=f"s-{user}",
        eventList=[
            {"eventId": f"{user}-{start + n}", "eventType": "watch", "itemId": item, "sentAt": start + n}
            for n, item in enumerate(items)
        ],
    )


def _job_owner_pid(database_url: str, arn: str) -> int | None:
    """The pid of the process that claimed the job (owners are host:pid:start:uuid), None while unclaimed."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            owner = conn.execute(sa.text("SELECT owner FROM jobs WHERE arn = :arn"), {"arn": arn}).scalar()
    finally:
        engine.dispose()
    return int(owner.split(":")[1]) if owner else None


# ---------------------------------------------------------------------------------------------- tests
def test_a_resource_created_on_one_node_is_described_by_the_other(cluster):
    arn = cluster.client("a").create_dataset_group(name=unique("seen"))["datasetGroupArn"]
    assert cluster.client("b").describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]["datasetGroupArn"] == arn


def test_a_node_without_shared_object_store_is_refused(cluster):
    """A third node on the same database with the default (local) object store may not join the live two."""
    data = cluster.root / "c" / "data"
    cmd = [sys.executable, "-m", "openpersonalize.cli", "serve", "--port", "1", "--data-dir", str(data)]
    cmd += ["--database-url", cluster.database_url]
    env = {**os.environ, **cluster.env}
    env |= {"OPENPERSONALIZE_ACCESS_KEY_ID": "AKID", "OPENPERSONALIZE_SECRET_ACCESS_KEY": "secret"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("openpersonalize serve:")]
    assert len(lines) == 1 and "refusing to start" in lines[0] and "is local" in lines[0], done.stderr


def test_both_nodes_recommend_identically(cluster, campaign):
    a, b = cluster.client("a", "personalize-runtime"), cluster.client("b", "personalize-runtime")
    for user in USERS:
        mine = _items(a, campaign["campaign"], user)
        assert mine and mine == _items(b, campaign["campaign"], user), user


def test_batch_inference_on_ray_equals_get_recommendations(cluster, campaign):
    """Trained and answered as Ray tasks (the version of ``campaign`` too): every line is GetRecommendations' list."""
    lines = 4200  # more than four blocks of 1,024 lines: answered by the executor's workers
    body = "".join(json.dumps({"userId": USERS[n % len(USERS)]}) + "\n" for n in range(lines))
    cluster.s3.put_object(Bucket=cluster.bucket, Key="batch/users.json", Body=body.encode())
    before = cluster.ray.task_counts()
    job = cluster.client("a").create_batch_inference_job(
        jobName=unique("batch"),
        solutionVersionArn=campaign["version"],
        roleArn=ROLE,
        jobInput={"s3DataSource": {"path": f"s3://{cluster.bucket}/batch/users.json"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{cluster.bucket}/batch/out/"}},
    )["batchInferenceJobArn"]
    describe = cluster.client("b").describe_batch_inference_job
    done = wait_status(describe, "batchInferenceJob", batchInferenceJobArn=job)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    ran = cluster.ray.task_counts() - before
    assert ran["_answer_item"] >= lines // 1024 and cluster.ray.task_counts()["_run_step"] >= 1, ran
    out = cluster.s3.get_object(Bucket=cluster.bucket, Key="batch/out/users.json.out")["Body"].read().decode()
    answered = {}
    for line in map(json.loads, out.splitlines()):
        assert line["error"] is None, line
        answered.setdefault(line["input"]["userId"], line["output"]["recommendedItems"])
    runtime = cluster.client("b", "personalize-runtime")
    for user in USERS:
        assert answered[user] == [item for item, _ in _items(runtime, campaign["campaign"], user)], user


def test_put_events_on_a_change_the_next_recommendations_on_b(cluster, group, campaign, horror_history):
    runtime_b = cluster.client("b", "personalize-runtime")
    user = unique("newcomer")
    before = _items(runtime_b, campaign["campaign"], user)
    _put(cluster.client("a", "personalize-events"), group["tracking"], user, horror_history[:10], 1_700_000_000)
    after = _items(runtime_b, campaign["campaign"], user)
    assert after != before


def test_every_event_acknowledged_by_a_killed_node_is_kept(cluster, group, campaign):
    """SIGKILL node A while it answers a PutEvents stream; an export through B holds every acknowledged event."""
    events = cluster.client("a", "personalize-events")
    user = unique("stream")
    acked: list[tuple[str, str, int]] = []
    ended: list[Exception] = []  # what ended the stream: the kill (or, before it, a failure to report)
    stopped = threading.Event()

    def stream() -> None:
        n = 0
        while not stopped.is_set():
            items = [str(1 + (n + k) % 500) for k in range(5)]
            try:
                _put(events, group["tracking"], user, items, 1_600_000_000 + n)
            except (ClientError, BotoCoreError) as exc:
                ended.append(exc)  # after the kill: the node died under this request, never acknowledged it
                return
            acked.extend((user, item, 1_600_000_000 + n + k) for k, item in enumerate(items))
            n += 5

    thread = threading.Thread(target=stream)
    thread.start()
    wait_until(lambda: len(acked) >= 100 or ended, what="100 acknowledged events")
    assert not ended, ended
    cluster.nodes["a"].kill()
    stopped.set()
    thread.join(60)
    assert not thread.is_alive()
    personalize_b = cluster.client("b")
    job = personalize_b.create_dataset_export_job(
        jobName=unique("exp"),
        datasetArn=group["dataset"],
        ingestionMode="PUT",
        roleArn=ROLE,
        jobOutput={"s3DataDestination": {"path": f"s3://{cluster.bucket}/export/"}},
    )["datasetExportJobArn"]
    done = wait_status(personalize_b.describe_dataset_export_job, "datasetExportJob", datasetExportJobArn=job)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    exported = set()
    for obj in cluster.s3.list_objects_v2(Bucket=cluster.bucket, Prefix="export/")["Contents"]:
        body = cluster.s3.get_object(Bucket=cluster.bucket, Key=obj["Key"])["Body"].read().decode()
        exported |= {(r["USER_ID"], r["ITEM_ID"], int(r["TIMESTAMP"])) for r in csv.DictReader(io.StringIO(body))}
    missing = [e for e in acked if e not in exported]
    assert acked and not missing, f"{len(missing)} of {len(acked)} acknowledged events lost"
    cluster.nodes["a"].start()


@pytest.fixture(scope="module")
def second_version(cluster, solution, campaign) -> dict[str, str]:
    """A second version whose training node is SIGKILLed once it runs; the other node's final description."""
    version = cluster.client("a").create_solution_version(solutionArn=solution)["solutionVersionArn"]
    owner: list[int] = []

    def claimed() -> bool:
        pid = _job_owner_pid(cluster.database_url, version)
        status = cluster.client("a").describe_solution_version(solutionVersionArn=version)["solutionVersion"]
        if pid is not None and status["status"] == "CREATE IN_PROGRESS":
            owner.append(pid)
            return True
        assert status["status"] != "ACTIVE", "training ended before its node could be killed"
        return False

    wait_until(claimed, what="the training job to be claimed")
    killed = cluster.node_of_pid(owner[0])
    cluster.nodes[killed].kill()
    survivor = "b" if killed == "a" else "a"
    done = wait_status(
        cluster.client(survivor).describe_solution_version, "solutionVersion", 900, solutionVersionArn=version
    )
    cluster.nodes[killed].start()
    return {"version": version, "killed": killed, "status": done["status"], "reason": str(done.get("failureReason"))}


def test_a_training_whose_node_was_killed_is_finished_by_the_other(cluster, second_version):
    assert second_version["status"] == "ACTIVE", second_version["reason"]
    described = cluster.client(second_version["killed"]).describe_solution_version(
        solutionVersionArn=second_version["version"]
    )
    assert described["solutionVersion"]["status"] == "ACTIVE"


def test_a_campaign_switch_reaches_every_node_without_a_failed_request(cluster, campaign, second_version):
    """UpdateCampaign to the second version with metadata on; requests on both nodes never fail meanwhile."""
    assert second_version["status"] == "ACTIVE", second_version["reason"]
    runtimes = {name: cluster.client(name, "personalize-runtime") for name in cluster.nodes}
    failures: list[str] = []
    answered = [0]
    stopped = threading.Event()

    def traffic() -> None:
        while not stopped.is_set():
            for name, runtime in runtimes.items():
                try:
                    _items(runtime, campaign["campaign"], USERS[answered[0] % len(USERS)])
                    answered[0] += 1
                except Exception as exc:  # every failure is reported below
                    failures.append(f"{name}: {exc}")

    def switched(name: str) -> bool:
        try:
            _items(runtimes[name], campaign["campaign"], "1", metadataColumns={"ITEMS": ["GENRE"]})
        except ClientError as exc:  # metadataColumns of a campaign without metadata: the update is not served yet
            assert exc.response["Error"]["Code"] == "InvalidInputException", exc
            return False
        return True

    assert not switched("a") and not switched("b")
    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        personalize = cluster.client("a")
        personalize.update_campaign(
            campaignArn=campaign["campaign"],
            solutionVersionArn=second_version["version"],
            campaignConfig={"enableMetadataWithRecommendations": True},
        )
        wait_until(
            lambda: (
                personalize.describe_campaign(campaignArn=campaign["campaign"])["campaign"]["latestCampaignUpdate"][
                    "status"
                ]
                == "ACTIVE"
            ),
            what="the campaign update",
        )
        applied = time.monotonic()
        lag = {}
        for name in runtimes:
            wait_until(lambda name=name: switched(name), what=f"node {name} to serve the update")
            lag[name] = time.monotonic() - applied
        print(f"campaign switch served after: {', '.join(f'{n} {s:.2f} s' for n, s in lag.items())}")
    finally:
        stopped.set()
        thread.join(60)
    assert answered[0] > 0 and not failures, failures[:5]
    described = personalize.describe_campaign(campaignArn=campaign["campaign"])["campaign"]
    assert described["solutionVersionArn"] == second_version["version"]


def test_a_node_fetches_a_model_it_has_not_seen_into_its_cache(cluster, campaign, second_version):
    """The restarted node serves the second version from a whole fetched copy in its own data dir; print the traffic."""
    killed = cluster.nodes[second_version["killed"]]
    models = killed.data_dir / "object-cache" / "models"
    wanted = second_version["version"].split(":", 5)[-1].replace("/", "__")
    copies = [p for p in models.glob(f"{wanted}/*") if p.is_dir()]
    assert len(copies) == 1 and (copies[0] / "manifest.json").exists()
    local = {f.name: f.stat().st_size for f in copies[0].iterdir()}
    prefix = f"openpersonalize/models/{wanted}/{copies[0].name}/"
    stored = cluster.s3.list_objects_v2(Bucket=cluster.bucket, Prefix=prefix)["Contents"]
    assert local == {obj["Key"][len(prefix) :]: obj["Size"] for obj in stored}
    print(f"model fetched by node {second_version['killed']}: {sum(local.values())} bytes in {len(local)} files")
