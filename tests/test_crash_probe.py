"""Crash and restart as an operator meets them (real servers over boto3): a server SIGKILLed mid-job comes back
with the job finished or failed with a reason, and what the killed run had written leaves no trace behind."""

from __future__ import annotations

import contextlib
import os
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

from helpers import RECIPE, ROLE, import_dataset, s3_env, wait_until
from openpersonalize.data import movielens
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
        solution = personalize.create_solution(
            name=unique("pop"), datasetGroupArn=group, recipeArn=RECIPE + "aws-popularity-count"
        )["solutionArn"]
        version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        done = wait_status(personalize.describe_solution_version, "solutionVersion", solutionVersionArn=version)
        assert done["status"] == "ACTIVE", done.get("failureReason")
        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "x"}
        s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", **keys)
        bucket = unique("crash")
        s3.create_bucket(Bucket=bucket)
        yield Crashable(server, work, tmp, version, bucket, s3)
    finally:
        server.stop()


def _open_below(pid: int, directory: Path) -> bool:
    """Whether process ``pid`` holds a file open below ``directory`` (a file without a name counts too)."""
    fds = Path(f"/proc/{pid}/fd")
    found = False
    for fd in fds.iterdir():
        try:
            found = found or os.readlink(fd).startswith(f"{directory}/")
        except FileNotFoundError:  # closed meanwhile
            continue
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


# --------------------------------------------------------------------------- a request killed half way (PostgreSQL)
# A request that records a change and queues the job carrying it out must do both in one transaction: a server
# killed between the two left the change pending for ever, and every retry refused. The test holds the jobs table
# locked, so the request stops at its queueing, and kills the server there; on PostgreSQL the rest runs on.


@pytest.fixture(scope="module")
def pg_crashable(tmp_path_factory, postgres_url, movielens_dir) -> Iterator[tuple[Server, str]]:
    """A PostgreSQL server of this suite alone and a VIDEO_ON_DEMAND group with a few thousand interactions."""
    root = tmp_path_factory.mktemp("crash-pg")
    work = root / "work"
    work.mkdir()
    server = Server(root / "data", postgres_url, [work]).start()
    try:
        personalize = server.client()
        ratings = movielens.prepare_interactions(movielens_dir / "ratings.csv").slice(0, 4000)
        csv = movielens.write_csv(ratings, work / "interactions.csv")
        group = personalize.create_dataset_group(name=unique("vod"), domain="VIDEO_ON_DEMAND")["datasetGroupArn"]
        import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(csv), "VIDEO_ON_DEMAND")
        yield server, group
    finally:
        server.stop()


@contextmanager
def _jobs_locked(database_url: str) -> Iterator[sa.Connection]:
    """The jobs table locked against writes (reads go on) until the block ends; a connection for looking on."""
    engine = sa.create_engine(database_url)
    try:  # the onlooker commits each read: a transaction would keep its first view of pg_stat_activity
        with engine.connect() as locker, engine.connect().execution_options(isolation_level="AUTOCOMMIT") as onlooker:
            locker.execute(sa.text("LOCK TABLE jobs IN EXCLUSIVE MODE"))
            yield onlooker
            locker.rollback()
    finally:
        engine.dispose()


def _kill_while_queueing(server: Server, request: Callable[[], object]) -> None:
    """Send ``request`` while the jobs table is locked, SIGKILL the server once the request waits to queue its
    job, then restart it."""
    with _jobs_locked(server.database_url) as onlooker:
        sent = threading.Thread(target=_ignoring_the_cut, args=(request,))
        sent.start()
        waiting = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE 'DELETE FROM jobs%'"
        )
        wait_until(lambda: onlooker.execute(waiting).scalar() > 0, what="the request waiting to queue its job")
        server.kill()
        sent.join()
    server.start()


def _ignoring_the_cut(request: Callable[[], object]) -> None:
    with contextlib.suppress(BotoCoreError):  # the server dies under the request: the connection is cut
        request()


@pytest.mark.postgres
def test_update_solution_cut_before_its_job_was_queued_can_be_retried(pg_crashable):
    server, group = pg_crashable
    personalize = server.client()
    solution = personalize.create_solution(
        name=unique("upd"), datasetGroupArn=group, recipeArn=RECIPE + "aws-user-personalization"
    )["solutionArn"]
    config = {"autoTrainingConfig": {"schedulingExpression": "rate(7 days)"}}
    update = partial(
        personalize.update_solution, solutionArn=solution, performAutoTraining=True, solutionUpdateConfig=config
    )
    _kill_while_queueing(server, update)

    server.client().update_solution(solutionArn=solution, performAutoTraining=True, solutionUpdateConfig=config)

    def applied() -> bool:
        latest = server.client().describe_solution(solutionArn=solution)["solution"]["latestSolutionUpdate"]
        return latest["status"] == "ACTIVE"

    wait_until(applied, what="the retried update applied")


@pytest.mark.postgres
def test_stop_recommender_cut_before_its_job_was_queued_can_be_retried(pg_crashable):
    server, group = pg_crashable
    personalize = server.client()
    arn = personalize.create_recommender(
        name=unique("pop"), datasetGroupArn=group, recipeArn=RECIPE + "aws-vod-most-popular"
    )["recommenderArn"]
    done = wait_status(personalize.describe_recommender, "recommender", recommenderArn=arn)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    _kill_while_queueing(server, partial(personalize.stop_recommender, recommenderArn=arn))

    server.client().stop_recommender(recommenderArn=arn)

    def stopped() -> bool:
        return server.client().describe_recommender(recommenderArn=arn)["recommender"]["status"] == "INACTIVE"

    wait_until(stopped, what="the retried stop done")
