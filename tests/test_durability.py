"""What was acknowledged survives SIGKILL; interrupted jobs resume after a restart, at once and alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from helpers import wait_until
from openpersonalize.data import movielens
from openpersonalize.jobs import processes
from server_harness import Server, unique, wait_status

TAKEOVER = b"taking over the jobs of"


def _kill_leaving_zombie(server: Server) -> subprocess.Popen:
    """SIGKILL the server and do not reap it: its pid stays taken (a zombie) until the caller waits."""
    proc = server.proc
    proc.send_signal(signal.SIGKILL)
    wait_until(lambda: not processes.alive(proc.pid), what="server death")
    assert Path(f"/proc/{proc.pid}").exists()  # a zombie, as a supervisor that has not reaped it yet leaves it
    return proc


def _log(server: Server) -> bytes:
    return (server.data_dir.parent / f"server-{server.port}.log").read_bytes()


def _stale_dir(path: Path) -> Path:
    """A scratch directory as a killed job leaves it (last changed a while ago)."""
    path.mkdir(parents=True)
    (path / "part-0.parquet").write_bytes(b"half-written")
    os.utime(path, (time.time() - 3600, time.time() - 3600))
    return path


def _group_with_interactions(personalize, work: Path, movielens_dir: Path) -> tuple[str, str, str]:
    csv = movielens.write_csv(movielens.prepare_interactions(movielens_dir / "ratings.csv"), work / "ints.csv")
    group = personalize.create_dataset_group(name=unique("durable"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("s"), schema=json.dumps(movielens.INTERACTIONS_SCHEMA))
    dataset = personalize.create_dataset(
        name=unique("d"), datasetType="INTERACTIONS", datasetGroupArn=group, schemaArn=schema["schemaArn"]
    )["datasetArn"]
    job = personalize.create_dataset_import_job(
        jobName=unique("j"), datasetArn=dataset, dataSource={"dataLocation": str(csv)}
    )["datasetImportJobArn"]
    return group, dataset, job


def test_resources_and_jobs_survive_sigkill(tmp_path, movielens_dir):
    work = tmp_path / "work"
    work.mkdir()
    server = Server(tmp_path / "data", None, [work]).start()
    try:
        personalize = server.client()
        group, dataset, job = _group_with_interactions(personalize, work, movielens_dir)
        server.kill()
        datasets_dir = server.data_dir / "objects" / "datasets"
        killed_import = _stale_dir(datasets_dir / dataset.split(":", 5)[-1].replace("/", "__") / ".snapshot-dead.tmp")

        server.start()
        personalize = server.client()
        assert personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"] == "ACTIVE"
        assert personalize.describe_dataset(datasetArn=dataset)["dataset"]["datasetArn"] == dataset
        done = wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
        assert done["status"] == "ACTIVE", done.get("failureReason")
        assert not killed_import.exists()
        assert list(datasets_dir.glob("*/.snapshot-*.tmp")) == []
    finally:
        server.stop()


def test_training_killed_with_its_server_is_taken_over_alone(tmp_path, movielens_dir):
    """The training child dies with the server; the restart takes the job over although the dead
    server's pid is still a zombie, and no scratch directory outlives the rerun."""
    work = tmp_path / "work"
    work.mkdir()
    server = Server(tmp_path / "data", None, [work]).start()
    zombie = None
    try:
        personalize = server.client()
        group, _, job = _group_with_interactions(personalize, work, movielens_dir)
        wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=job)
        solution = personalize.create_solution(
            name=unique("sol"), datasetGroupArn=group, recipeArn="arn:aws:personalize:::recipe/aws-user-personalization"
        )["solutionArn"]
        version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        wait_until(lambda: processes.job_children(server.proc.pid), what="training child start")
        children = processes.job_children(server.proc.pid)
        zombie = _kill_leaving_zombie(server)
        for child in children:
            wait_until(lambda child=child: not processes.alive(child), guard=30.0, what=f"child {child} ending")
        models = server.data_dir / "objects" / "models"
        killed_attempt = _stale_dir(models / f".{version.split(':', 5)[-1].replace('/', '__')}.dead0000.tmp")

        server.start()
        personalize = server.client()
        done = wait_status(personalize.describe_solution_version, "solutionVersion", solutionVersionArn=version)
        assert done["status"] == "ACTIVE", done.get("failureReason")
        assert TAKEOVER in _log(server)
        assert not killed_attempt.exists()
        assert [p.name for p in models.iterdir() if p.name.startswith(".")] == []
    finally:
        server.stop()
        if zombie is not None:
            zombie.wait()


def test_generated_credentials_are_private(tmp_path):
    from openpersonalize.server import load_credentials

    creds, path = load_credentials(tmp_path)
    assert path is not None and (path.stat().st_mode & 0o777) == 0o600
    assert load_credentials(tmp_path)[0] == creds
