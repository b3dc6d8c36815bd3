"""Crash and restart as an operator meets them (real servers over boto3): a server SIGKILLed mid-job comes back
with the job finished or failed with a reason, and what the killed run had written leaves no trace behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

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
