"""Crash and restart as an operator meets them (real servers over boto3): a server SIGKILLed mid-job comes back
with the job finished or failed with a reason, and what the killed run had written leaves no trace behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa
from botocore.exceptions import BotoCoreError

from helpers import RECIPE, ROLE, export_dataset, import_dataset, s3_env, train, wait_until
from openpersonalize.data import movielens
from openpersonalize.data.csv_parts import PART_BYTES_ENV
from openpersonalize.jobs import processes
from openpersonalize.jobs.runner import MAX_ATTEMPTS
from openpersonalize.store.objects import CACHE_DIR, FETCHING
from server_harness import Server, unique, wait_status

BATCH_USERS = 20_000  # several blocks of lines: the batch runs long enough to be killed half way


@dataclass
class Crashable:
    """A server of this suite alone (killed and restarted by the tests), with a trained popularity version."""

    server: Server
    work: Path
    tmp: Path  # the server's TMPDIR
    version: str
    bucket: str
    s3: object

    def personalize(self):
        return self.server.client()

    def restart(self) -> None:
        self.server.kill()
        self.server.start()


@pytest.fixture(scope="module")
def crashable(tmp_path_factory, s3_server, movielens_dir) -> Iterator[Crashable]:
    root = tmp_path_factory.mktemp("crash")
    work, tmp = root / "work", root / "tmp"
    work.mkdir()
    tmp.mkdir()
    server = Server(root / "data", None, [work], {**s3_env(s3_server), "TMPDIR": str(tmp)}).start()
    try:
        personalize = server.client()
        ratings = movielens.prepare_interactions(movielens_dir / "ratings.csv").slice(0, 4000)
        csv = movielens.write_csv(ratings, work / "interactions.csv")
        group = personalize.create_dataset_group(name=unique("crash"))["datasetGroupArn"]
        import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(csv))
        version = train(personalize, group, ["aws-popularity-count"])["aws-popularity-count"]
        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "x"}
        s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", **keys)
        bucket = unique("crash")
        s3.create_bucket(Bucket=bucket)
        yield Crashable(server, work, tmp, version, bucket, s3)
    finally:
        server.stop()


def _open_below(pid: int, directory: Path, named: str = "") -> bool:
    """Whether process ``pid`` holds a file open below ``directory`` (a file without a name counts too), with
    ``named`` in its name."""
    found = False
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(FileNotFoundError):  # closed meanwhile
                target = os.readlink(fd)
                found = found or (target.startswith(str(directory).rstrip("/") + "/") and named in target)
    except FileNotFoundError:  # the process ended
        return False
    return found


def _files_below(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def test_batch_output_to_s3_killed_half_way_leaves_no_temporary_file(crashable):
    """The output's local copy, uploaded once whole, must not outlive a server killed while writing it."""
    src = crashable.work / "users.json"
    src.write_text("".join(f'{{"userId": "{user % 600 + 1}"}}\n' for user in range(BATCH_USERS)))
    personalize = crashable.personalize()
    job = personalize.create_batch_inference_job(
        jobName=unique("s3out"),
        solutionVersionArn=crashable.version,
        roleArn=ROLE,
        jobInput={"s3DataSource": {"path": str(src)}},
        jobOutput={"s3DataDestination": {"path": f"s3://{crashable.bucket}/out/"}},
    )["batchInferenceJobArn"]
    pid = crashable.server.proc.pid
    wait_until(lambda: _open_below(pid, crashable.tmp), what="the output's temporary file opening")
    crashable.restart()

    personalize = crashable.personalize()
    done = wait_status(personalize.describe_batch_inference_job, "batchInferenceJob", batchInferenceJobArn=job)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    body = crashable.s3.get_object(Bucket=crashable.bucket, Key="out/users.json.out")["Body"].read()
    assert body.count(b"\n") == BATCH_USERS
    assert _files_below(crashable.tmp) == []


def _writing_a_part(pid: int) -> bool:
    """Whether a job child of ``pid`` (an import task) holds a snapshot part open."""
    return any(_open_below(child, Path("/"), "part-") for child in processes.job_children(pid))


def test_recommender_abandoned_after_three_kills_can_be_deleted(crashable, movielens_dir):
    """A job interrupted three times is abandoned; a recommender's pending training stayed IN_PROGRESS then, and
    refused DeleteRecommender for ever."""
    server = crashable.server
    personalize = server.client()
    group = personalize.create_dataset_group(name=unique("vod"), domain="VIDEO_ON_DEMAND")["datasetGroupArn"]
    csv = crashable.work / "interactions.csv"
    import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(csv), "VIDEO_ON_DEMAND")
    arn = personalize.create_recommender(
        name=unique("pop"), datasetGroupArn=group, recipeArn=RECIPE + "aws-vod-most-popular"
    )["recommenderArn"]
    for _ in range(MAX_ATTEMPTS):
        wait_until(lambda: processes.job_children(server.proc.pid), what="the training step starting")
        crashable.restart()
    personalize = server.client()
    done = wait_status(personalize.describe_recommender, "recommender", recommenderArn=arn)
    assert done["status"] == "CREATE FAILED" and "interrupted" in done["failureReason"], done
    personalize.delete_recommender(recommenderArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_recommender(recommenderArn=arn)


@contextmanager
def _s3_store_server(crashable: Crashable, root: Path, s3_server: str, **env: str) -> Iterator[tuple[Server, str]]:
    """A server of one test on an S3 object store of its own (and its TMPDIR ``root/tmp``); the store's prefix."""
    (root / "work").mkdir()
    (root / "tmp").mkdir()
    prefix = unique("store")
    store = ["--object-store", f"s3://{crashable.bucket}/{prefix}"]
    env = {**s3_env(s3_server), "TMPDIR": str(root / "tmp"), **env}
    server = Server(root / "data", None, [root / "work"], env, args=store).start()
    try:
        yield server, prefix
    finally:
        server.stop()


def _import_job(personalize, csv: Path) -> str:
    """A new group and Interactions dataset, and the ARN of the import job of ``csv`` into it."""
    group = personalize.create_dataset_group(name=unique("crash"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("s"), schema=json.dumps(movielens.INTERACTIONS_SCHEMA))
    dataset = personalize.create_dataset(
        name=unique("d"), datasetType="INTERACTIONS", datasetGroupArn=group, schemaArn=schema["schemaArn"]
    )["datasetArn"]
    return personalize.create_dataset_import_job(
        jobName=unique("import"), datasetArn=dataset, dataSource={"dataLocation": str(csv)}
    )["datasetImportJobArn"]


def test_import_into_s3_killed_half_way_leaves_no_part_behind(crashable, tmp_path, movielens_dir, s3_server):
    """An import in parts writes each part locally before uploading it; a killed task's file must not stay."""
    with _s3_store_server(crashable, tmp_path, s3_server, **{PART_BYTES_ENV: "100000"}) as (server, _):  # ten parts
        ratings = movielens.prepare_interactions(movielens_dir / "ratings.csv").slice(0, 40_000)
        job = _import_job(server.client(), movielens.write_csv(ratings, tmp_path / "work" / "interactions.csv"))
        wait_until(lambda: _writing_a_part(server.proc.pid), what="an import task writing its part")
        server.kill()
        server.start()
        personalize = server.client()
        done = wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
        assert done["status"] == "ACTIVE", done.get("failureReason")
        assert _files_below(tmp_path / "tmp") == []
        assert _files_below(server.data_dir / CACHE_DIR / FETCHING) == []


def test_training_killed_on_s3_leaves_nothing_once_its_solution_is_deleted(crashable, tmp_path, s3_server):
    """A killed training attempt's inputs (the group's live events) stayed in the store after DeleteSolution."""
    with _s3_store_server(crashable, tmp_path, s3_server) as (server, prefix):
        csv = shutil.copy(crashable.work / "interactions.csv", tmp_path / "work")
        personalize = server.client()
        job = _import_job(personalize, Path(csv))
        done = wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
        assert done["status"] == "ACTIVE", done.get("failureReason")
        group = personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]["datasetArn"]
        group = personalize.describe_dataset(datasetArn=group)["dataset"]["datasetGroupArn"]
        solution = personalize.create_solution(
            name=unique("killed"), datasetGroupArn=group, recipeArn=RECIPE + "aws-popularity-count"
        )["solutionArn"]
        version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        wait_until(lambda: processes.job_children(server.proc.pid), what="the training step starting")
        server.kill()
        server.start()
        personalize = server.client()
        done = wait_status(personalize.describe_solution_version, "solutionVersion", solutionVersionArn=version)
        assert done["status"] == "ACTIVE", done.get("failureReason")
        personalize.delete_solution(solutionArn=solution)
        name = version.split(":", 5)[-1].replace("/", "__")
        listed = crashable.s3.list_objects_v2(Bucket=crashable.bucket, Prefix=f"{prefix}/models/")
        assert [o["Key"] for o in listed.get("Contents", []) if name in o["Key"]] == []


# --------------------------------------------------------------------------- killed between two writes (PostgreSQL)
# What must be seen together (a change and the job carrying it out, a job's result and its end) is written in one
# transaction: a server killed between two left a change pending for ever, or a job's result applied twice. The tests
# hold a lock the server's next write waits on, and kill the server there (on PostgreSQL the rest runs on).


@dataclass
class PgCrashable:
    """A PostgreSQL server of this suite alone, a VIDEO_ON_DEMAND group and its interactions dataset."""

    server: Server
    work: Path
    group: str
    dataset: str


@pytest.fixture(scope="module")
def pg_crashable(tmp_path_factory, postgres_url, movielens_dir) -> Iterator[PgCrashable]:
    root = tmp_path_factory.mktemp("crash-pg")
    work = root / "work"
    work.mkdir()
    server = Server(root / "data", postgres_url, [work]).start()
    try:
        personalize = server.client()
        ratings = movielens.prepare_interactions(movielens_dir / "ratings.csv").slice(0, 4000)
        csv = movielens.write_csv(ratings, work / "interactions.csv")
        group = personalize.create_dataset_group(name=unique("vod"), domain="VIDEO_ON_DEMAND")["datasetGroupArn"]
        schema = movielens.INTERACTIONS_SCHEMA
        dataset = import_dataset(personalize, group, "INTERACTIONS", schema, str(csv), "VIDEO_ON_DEMAND")
        yield PgCrashable(server, work, group, dataset)
    finally:
        server.stop()


class Locks:
    """The test's own connections to the server's database, each holding the locks it took until rolled back."""

    def __init__(self, database_url: str) -> None:
        self.engine = sa.create_engine(database_url)
        # the onlooker commits each read: a transaction would keep its first view of pg_stat_activity
        self.onlooker = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def hold(self, statement: str, **params: str) -> sa.Connection:
        """A connection that ran ``statement`` in a transaction left open."""
        holder = self.engine.connect()
        holder.execute(sa.text(statement), params)
        return holder

    def blocking(self, holder: sa.Connection, query: str = "%") -> bool:
        """Whether a session running a statement like ``query`` waits on a lock ``holder`` holds."""
        pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid)) AND query ILIKE :query"
        return self.onlooker.execute(sa.text(waiting), {"pid": pid, "query": query}).scalar() > 0

    def kill_while_blocked(self, server: Server, lock: str, statement: str, request: Callable[[], object]) -> None:
        """Send ``request`` while ``lock`` is held, SIGKILL the server once a statement like ``statement`` waits
        on it (the request stops exactly there), then restart the server."""
        holder = self.hold(lock)
        sent = threading.Thread(target=_ignoring_the_cut, args=(request,))
        sent.start()
        wait_until(lambda: self.blocking(holder, statement), what=f"the request waiting at {statement}")
        server.kill()
        sent.join()
        holder.close()
        server.start()

    def close(self) -> None:
        self.onlooker.close()
        self.engine.dispose()


@pytest.fixture
def locks(pg_crashable) -> Iterator[Locks]:
    held = Locks(pg_crashable.server.database_url)
    yield held
    held.close()


def _kill_while_queueing(server: Server, locks: Locks, request: Callable[[], object]) -> None:
    """Kill the server while ``request`` waits to queue its job (the jobs table locked: writes wait, reads go on)."""
    locks.kill_while_blocked(server, "LOCK TABLE jobs IN EXCLUSIVE MODE", "DELETE FROM jobs%", request)


def _ignoring_the_cut(request: Callable[[], object]) -> None:
    with contextlib.suppress(BotoCoreError):  # the server dies under the request: the connection is cut
        request()


@pytest.mark.postgres
def test_update_solution_cut_before_its_job_was_queued_can_be_retried(pg_crashable, locks):
    server, group = pg_crashable.server, pg_crashable.group
    personalize = server.client()
    solution = personalize.create_solution(
        name=unique("upd"), datasetGroupArn=group, recipeArn=RECIPE + "aws-user-personalization"
    )["solutionArn"]
    config = {"autoTrainingConfig": {"schedulingExpression": "rate(7 days)"}}
    update = partial(
        personalize.update_solution, solutionArn=solution, performAutoTraining=True, solutionUpdateConfig=config
    )
    _kill_while_queueing(server, locks, update)

    server.client().update_solution(solutionArn=solution, performAutoTraining=True, solutionUpdateConfig=config)

    def applied() -> bool:
        latest = server.client().describe_solution(solutionArn=solution)["solution"]["latestSolutionUpdate"]
        return latest["status"] == "ACTIVE"

    wait_until(applied, what="the retried update applied")


@pytest.mark.postgres
def test_stop_recommender_cut_before_its_job_was_queued_can_be_retried(pg_crashable, locks):
    server, group = pg_crashable.server, pg_crashable.group
    personalize = server.client()
    arn = personalize.create_recommender(
        name=unique("pop"), datasetGroupArn=group, recipeArn=RECIPE + "aws-vod-most-popular"
    )["recommenderArn"]
    done = wait_status(personalize.describe_recommender, "recommender", recommenderArn=arn)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    _kill_while_queueing(server, locks, partial(personalize.stop_recommender, recommenderArn=arn))

    server.client().stop_recommender(recommenderArn=arn)

    def stopped() -> bool:
        return server.client().describe_recommender(recommenderArn=arn)["recommender"]["status"] == "INACTIVE"

    wait_until(stopped, what="the retried stop done")


@pytest.mark.postgres
def test_incremental_import_killed_as_it_ends_adds_its_rows_once(pg_crashable, locks, movielens_dir):
    """The rerun of an import whose snapshot was already the dataset's added its rows a second time."""
    server, dataset = pg_crashable.server, pg_crashable.dataset
    personalize = server.client()
    before = _exported_rows(pg_crashable, unique("before"))
    more = movielens.prepare_interactions(movielens_dir / "ratings.csv").slice(50_000, 1000)
    csv = movielens.write_csv(more, pg_crashable.work / f"{unique('more')}.csv")
    # the import's switch of the dataset's snapshot waits on this share lock (its creation takes one too)
    on_dataset = locks.hold("SELECT arn FROM resources WHERE arn = :arn FOR SHARE", arn=dataset)
    job = personalize.create_dataset_import_job(
        jobName=unique("more"), datasetArn=dataset, dataSource={"dataLocation": str(csv)}, importMode="INCREMENTAL"
    )["datasetImportJobArn"]
    wait_until(lambda: locks.blocking(on_dataset), what="the import switching snapshots")
    on_job = locks.hold("SELECT arn FROM resources WHERE arn = :arn FOR UPDATE", arn=job)
    on_dataset.close()  # the snapshot switch goes on; the job's end waits on the lock of its row
    wait_until(lambda: locks.blocking(on_job), what="the import ending")
    server.kill()
    on_job.close()
    server.start()

    personalize = server.client()
    done = wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    assert _exported_rows(pg_crashable, unique("after")) == before + more.num_rows


def _exported_rows(pg_crashable: PgCrashable, name: str, dataset: str | None = None, mode: str = "BULK") -> int:
    """A dataset's rows (the suite's by default) as an export job in ``mode`` writes them."""
    client, out = pg_crashable.server.client(), pg_crashable.work / name
    parts = export_dataset(client, dataset or pg_crashable.dataset, out, mode)
    return sum(max(len(f.read_text().splitlines()) - 1, 0) for f in parts)  # an empty one: ""


@pytest.mark.postgres
def test_delete_dataset_killed_before_its_events_went_leaves_none_to_a_new_dataset(pg_crashable, locks):
    """The live events of a deleted Interactions dataset outlived it when the server died before removing them:
    campaigns kept using them, and a dataset created again under the same name started with them."""
    server = pg_crashable.server
    personalize = server.client()
    group = personalize.create_dataset_group(name=unique("gone"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("s"), schema=json.dumps(movielens.INTERACTIONS_SCHEMA))["schemaArn"]
    members = {"name": "events", "datasetType": "INTERACTIONS", "datasetGroupArn": group, "schemaArn": schema}
    dataset = personalize.create_dataset(**members)["datasetArn"]
    tracking = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=group)["trackingId"]
    events = [{"eventType": "watch", "itemId": str(item), "sentAt": 1_700_000_000 + item} for item in range(10)]
    server.client("personalize-events").put_events(trackingId=tracking, userId="u1", sessionId="s1", eventList=events)

    delete = partial(personalize.delete_dataset, datasetArn=dataset)
    locks.kill_while_blocked(server, "LOCK TABLE live_events IN EXCLUSIVE MODE", "DELETE FROM live_events%", delete)

    personalize = server.client()
    with contextlib.suppress(personalize.exceptions.ResourceNotFoundException):  # the operator's retry
        personalize.delete_dataset(datasetArn=dataset)
    assert personalize.create_dataset(**members)["datasetArn"] == dataset
    assert _exported_rows(pg_crashable, unique("put"), dataset, "PUT") == 0
