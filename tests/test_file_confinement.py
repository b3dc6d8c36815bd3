"""Jobs never read or write a file outside the server's allowed directories (issue 13).

Each attack an outside probe found is replayed over HTTP with boto3: symlinks planted inside an
allowed directory (to a file or a directory outside) for dataset import, batch inference and data
deletion inputs; symlinks planted at the export's and the batch job's temporary and final output
names; a NUL character in a location. The server's own state (data dir, SQLite database,
credentials.json) is out of reach of every job even where an allowed directory holds it: this runs
against a server in its default layout (./data in its cwd) started with ``--allow-path`` of that cwd.
The open-time checks themselves (a path swapped for a link or a renamed directory after it was
checked, a hard link, a FIFO) are exercised on ``store.local_files`` directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from helpers import ROLE, error_code, train
from openpersonalize.data import movielens
from openpersonalize.store import local_files
from openpersonalize.store.local_files import LocalOutput, LocationError, Roots, list_files, open_read
from server_harness import Server, unique, wait_status

HEADER = "USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n"


def _train(work: Path, personalize) -> dict[str, str]:
    """A dataset group with 1,200 imported interactions and an ACTIVE popularity-count solution version."""
    rows = "".join(f"u{u},i{(u * 7 + k) % 25},click,{u * 100 + k}\n" for u in range(60) for k in range(20))
    data = work / (unique("confine-ints") + ".csv")
    data.write_text(HEADER + rows)
    group = personalize.create_dataset_group(name=unique("confine"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("s"), schema=json.dumps(movielens.INTERACTIONS_SCHEMA))
    dataset = personalize.create_dataset(
        name=unique("d"), datasetType="INTERACTIONS", datasetGroupArn=group, schemaArn=schema["schemaArn"]
    )["datasetArn"]
    assert _import(personalize, dataset, str(data))["status"] == "ACTIVE"
    version = train(personalize, group, ["aws-popularity-count"])["aws-popularity-count"]
    return {"group": group, "dataset": dataset, "version": version, "schema": schema["schemaArn"]}


@pytest.fixture(scope="module")
def trained(server, personalize):
    return _train(server.work, personalize)


@pytest.fixture
def secret(tmp_path) -> tuple[Path, str]:
    """A directory outside every allowed one holding files that carry a unique marker."""
    marker = f"SECRET{uuid.uuid4().hex}"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text(f"{HEADER}{marker},{marker},click,1\n")
    (outside / "secret.json").write_text(json.dumps({"userId": marker}) + "\n")
    (outside / "victim.txt").write_text(marker)
    return outside, marker


def _import(personalize, dataset: str, location: str) -> dict:
    arn = personalize.create_dataset_import_job(
        jobName=unique("imp"), datasetArn=dataset, dataSource={"dataLocation": location}
    )["datasetImportJobArn"]
    return wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=arn)


def _batch(personalize, version: str, src: Path, dst: Path) -> dict:
    arn = personalize.create_batch_inference_job(
        jobName=unique("batch"),
        solutionVersionArn=version,
        roleArn=ROLE,
        jobInput={"s3DataSource": {"path": str(src)}},
        jobOutput={"s3DataDestination": {"path": str(dst)}},
    )["batchInferenceJobArn"]
    return wait_status(personalize.describe_batch_inference_job, "batchInferenceJob", batchInferenceJobArn=arn)


def _export(personalize, dataset: str, dst: Path, job_name: str) -> dict:
    arn = personalize.create_dataset_export_job(
        jobName=job_name, datasetArn=dataset, roleArn=ROLE, jobOutput={"s3DataDestination": {"path": str(dst)}}
    )["datasetExportJobArn"]
    return wait_status(personalize.describe_dataset_export_job, "datasetExportJob", datasetExportJobArn=arn)


def _deletion(personalize, group: str, location: Path) -> dict:
    arn = personalize.create_data_deletion_job(
        jobName=unique("del"), datasetGroupArn=group, roleArn=ROLE, dataSource={"dataLocation": str(location)}
    )["dataDeletionJobArn"]
    return wait_status(personalize.describe_data_deletion_job, "dataDeletionJob", dataDeletionJobArn=arn)


def _group(personalize) -> str:
    return personalize.create_dataset_group(name=unique("confine-other"))["datasetGroupArn"]


def _no_marker_under(directory: Path, marker: str) -> None:
    for path in directory.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert marker not in path.read_text(errors="replace"), path


def _input_dir(server, *, users: bool = True) -> Path:
    directory = server.work / unique("in")
    directory.mkdir()
    if users:
        (directory / "users.json").write_text('{"userId": "u1"}\n')
    return directory


# --------------------------------------------------------------------------- reading outside
def test_import_refuses_a_linked_file_leading_outside(server, personalize, trained, secret):
    outside, marker = secret
    directory = _input_dir(server, users=False)
    (directory / "ok.csv").write_text(HEADER + "u1,i1,click,5\n")
    (directory / "leak.csv").symlink_to(outside / "secret.csv")
    job = _import(personalize, trained["dataset"], str(directory))
    assert job["status"] == "CREATE FAILED"
    assert "leak.csv" in job["failureReason"] and "outside" in job["failureReason"]
    assert marker not in job["failureReason"]


def test_import_refuses_a_linked_directory_leading_outside(server, personalize, trained, secret):
    outside, marker = secret
    directory = _input_dir(server, users=False)
    (directory / "ok.csv").write_text(HEADER + "u1,i1,click,5\n")
    (directory / "more").symlink_to(outside, target_is_directory=True)
    job = _import(personalize, trained["dataset"], str(directory))
    assert job["status"] == "CREATE FAILED"
    assert "more" in job["failureReason"] and marker not in job["failureReason"]


def test_import_follows_a_link_that_stays_inside(server, personalize, trained):
    """Links within the allowed directories keep working: only the way outside is closed."""
    directory = _input_dir(server, users=False)
    real = server.work / (unique("real") + ".csv")
    real.write_text(HEADER + "u1,i1,click,5\n")
    (directory / "inside.csv").symlink_to(real)
    schema = trained["schema"]
    dataset = personalize.create_dataset(
        name=unique("d"), datasetType="INTERACTIONS", datasetGroupArn=_group(personalize), schemaArn=schema
    )["datasetArn"]
    job = _import(personalize, dataset, str(directory))
    assert job["status"] == "ACTIVE", job.get("failureReason")


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_batch_input_refuses_links_leading_outside(server, personalize, trained, secret, kind):
    """The probe's batch job echoed /etc/passwd into its output through such a link."""
    outside, marker = secret
    src = _input_dir(server)
    if kind == "file":
        (src / "leak.json").symlink_to(outside / "secret.json")
    else:
        (src / "sub").symlink_to(outside, target_is_directory=True)
    dst = server.work / unique("out")
    job = _batch(personalize, trained["version"], src, dst)
    assert job["status"] == "CREATE FAILED"
    assert "outside" in job["failureReason"] and marker not in job["failureReason"]
    if dst.exists():
        _no_marker_under(dst, marker)


def test_deletion_input_refuses_a_linked_file_leading_outside(server, personalize, trained, secret):
    outside, marker = secret
    directory = _input_dir(server, users=False)
    (directory / "users.csv").symlink_to(outside / "secret.csv")
    job = _deletion(personalize, trained["group"], directory)
    assert job["status"] == "FAILED"
    assert "users.csv" in job["failureReason"] and marker not in job["failureReason"]


def test_deletion_failure_does_not_echo_the_file(server, personalize, trained):
    marker = f"ROW{uuid.uuid4().hex}"
    bad = server.work / (unique("bad") + ".csv")
    bad.write_text(f"USER_ID\nu1\n{marker},extra,columns\n")
    job = _deletion(personalize, trained["group"], bad)
    assert job["status"] == "FAILED" and "CSV" in job["failureReason"]
    assert marker not in job["failureReason"]


# --------------------------------------------------------------------------- writing outside
def test_export_does_not_write_through_planted_links(server, personalize, trained, secret):
    outside, marker = secret
    victim = outside / "victim.txt"
    dst = server.work / unique("export")
    name = unique("exp")
    (dst / name).mkdir(parents=True)
    (dst / name / ".interactions.csv.part").symlink_to(victim)
    (dst / name / "interactions.csv").symlink_to(victim)
    job = _export(personalize, trained["dataset"], dst, name)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert victim.read_text() == marker
    written = dst / name / "interactions.csv"
    assert not written.is_symlink() and written.read_text().startswith('"USER_ID","ITEM_ID"')


def test_export_into_a_linked_directory_leading_outside_fails(server, personalize, trained, secret):
    outside, _ = secret
    dst = server.work / unique("export")
    dst.mkdir()
    name = unique("exp")
    (dst / name).symlink_to(outside, target_is_directory=True)
    job = _export(personalize, trained["dataset"], dst, name)
    assert job["status"] == "CREATE FAILED" and "outside" in job["failureReason"]
    assert sorted(p.name for p in outside.iterdir()) == ["secret.csv", "secret.json", "victim.txt"]


def test_batch_output_does_not_write_through_planted_links(server, personalize, trained, secret):
    outside, marker = secret
    victim = outside / "victim.txt"
    src, dst = _input_dir(server), server.work / unique("out")
    dst.mkdir()
    (dst / ".users.json.out.part").symlink_to(victim)
    (dst / "users.json.out").symlink_to(victim)
    job = _batch(personalize, trained["version"], src, dst)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert victim.read_text() == marker
    written = dst / "users.json.out"
    assert not written.is_symlink() and json.loads(written.read_text())["input"] == {"userId": "u1"}


def test_batch_output_name_taken_by_a_directory_fails(server, personalize, trained):
    src, dst = _input_dir(server), server.work / unique("out")
    (dst / "users.json.out").mkdir(parents=True)
    job = _batch(personalize, trained["version"], src, dst)
    assert job["status"] == "CREATE FAILED" and "is a directory" in job["failureReason"]
    assert sorted(p.name for p in dst.iterdir()) == ["users.json.out"]


# --------------------------------------------------------------------------- NUL in a location
@pytest.mark.parametrize("form", ["{}/a\x00b.csv", "file://{}/a%00b.csv", "s3://bucket/{}/a\x00b.csv"])
def test_nul_in_a_location_is_invalid_input(server, personalize, trained, form):
    location = form.format(server.work)
    with pytest.raises(ClientError) as err:
        personalize.create_dataset_import_job(
            jobName=unique("p"), datasetArn=trained["dataset"], dataSource={"dataLocation": location}
        )
    assert error_code(err) == "InvalidInputException" and "dataSource.dataLocation" in str(err.value)
    with pytest.raises(ClientError) as err:
        personalize.create_batch_inference_job(
            jobName=unique("batch"),
            solutionVersionArn=trained["version"],
            roleArn=ROLE,
            jobInput={"s3DataSource": {"path": str(server.work / "users.json")}},
            jobOutput={"s3DataDestination": {"path": location}},
        )
    assert error_code(err) == "InvalidInputException" and "jobOutput.s3DataDestination.path" in str(err.value)


# --------------------------------------------------------------------------- the server's own state
@pytest.fixture(scope="module")
def default_layout(tmp_path_factory, s3_server):
    """A server in its default layout (./data in the cwd, credentials.json made), run with ``--allow-path <cwd>``."""
    cwd = tmp_path_factory.mktemp("default-layout")
    unset = {"OPENPERSONALIZE_ACCESS_KEY_ID": "", "OPENPERSONALIZE_SECRET_ACCESS_KEY": ""}
    env = {**unset, "OPENPERSONALIZE_S3_ENDPOINT_URL": s3_server}
    srv = Server(cwd / "data", None, [cwd], env, cwd=cwd).start()
    try:
        creds = json.loads((cwd / "data" / "credentials.json").read_text())
        client = srv.client(key=creds["aws_access_key_id"], secret=creds["aws_secret_access_key"])
        yield {"cwd": cwd, "data": cwd / "data", "secret": creds["aws_secret_access_key"], "client": client}
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def state(default_layout):
    return {**default_layout, **_train(default_layout["cwd"], default_layout["client"])}


@pytest.fixture
def scratch(state) -> Path:
    """A fresh directory in the server's cwd, removed afterwards (its planted links must not outlive the test)."""
    directory = state["cwd"] / unique("scratch")
    directory.mkdir()
    yield directory
    shutil.rmtree(directory)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(err, field: str, secret: str) -> None:
    message = str(err.value)
    assert error_code(err) == "InvalidInputException" and field in message and "server's own data" in message
    assert secret not in message and "SQLite format" not in message


@pytest.mark.parametrize("where", ["{data}", "{data}/objects", "file://{data}/exports"])
def test_export_into_the_data_dir_is_refused(state, where):
    personalize, data = state["client"], state["data"]
    before = _digest(data / "metadata.db")
    name = unique("exp")
    with pytest.raises(ClientError) as err:
        personalize.create_dataset_export_job(
            jobName=name,
            datasetArn=state["dataset"],
            roleArn=ROLE,
            jobOutput={"s3DataDestination": {"path": where.format(data=data)}},
        )
    _refused(err, "jobOutput.s3DataDestination.path", state["secret"])
    assert _digest(data / "metadata.db") == before
    assert not list(data.rglob(f"*{name}*"))


def test_export_named_after_the_data_dir_fails_when_opened(state):
    """The output directory (the allowed cwd) passes the request check; <jobName>/ would be ./data itself."""
    personalize, data = state["client"], state["data"]
    job = _export(personalize, state["dataset"], state["cwd"], data.name)
    assert job["status"] == "CREATE FAILED" and "server's own data" in job["failureReason"]
    assert not (data / "interactions.csv").exists()
    with sqlite3.connect(data / "metadata.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.parametrize("where", ["{data}", "{data}/models"])
def test_batch_output_into_the_data_dir_is_refused(state, scratch, where):
    (scratch / "users.json").write_text('{"userId": "u1"}\n')
    with pytest.raises(ClientError) as err:
        state["client"].create_batch_inference_job(
            jobName=unique("batch"),
            solutionVersionArn=state["version"],
            roleArn=ROLE,
            jobInput={"s3DataSource": {"path": str(scratch / "users.json")}},
            jobOutput={"s3DataDestination": {"path": where.format(data=state["data"])}},
        )
    _refused(err, "jobOutput.s3DataDestination.path", state["secret"])
    assert not list(state["data"].rglob("*.out"))


@pytest.mark.parametrize("target", ["credentials.json", "metadata.db", "", "link"])
@pytest.mark.parametrize("job", ["import", "batch", "deletion"])
def test_reading_the_server_state_is_refused(state, scratch, target, job):
    """credentials.json holds the SigV4 secret; metadata.db every resource. Neither is echoed in the refusal."""
    source = state["data"] / target
    if target == "link":
        source = scratch / "innocent.csv"
        source.symlink_to(state["data"] / "credentials.json")
    personalize = state["client"]
    with pytest.raises(ClientError) as err:
        if job == "import":
            personalize.create_dataset_import_job(
                jobName=unique("imp"), datasetArn=state["dataset"], dataSource={"dataLocation": str(source)}
            )
        elif job == "batch":
            personalize.create_batch_inference_job(
                jobName=unique("batch"),
                solutionVersionArn=state["version"],
                roleArn=ROLE,
                jobInput={"s3DataSource": {"path": source.as_uri()}},
                jobOutput={"s3DataDestination": {"path": str(scratch / "out")}},
            )
        else:
            personalize.create_data_deletion_job(
                jobName=unique("del"),
                datasetGroupArn=state["group"],
                roleArn=ROLE,
                dataSource={"dataLocation": str(source)},
            )
    field = "jobInput.s3DataSource.path" if job == "batch" else "dataSource.dataLocation"
    _refused(err, field, state["secret"])
    assert not (scratch / "out").exists()


def test_a_link_into_the_data_dir_fails_the_import_when_opened(state, scratch):
    (scratch / "ok.csv").write_text(HEADER + "u1,i1,click,5\n")
    (scratch / "creds.csv").symlink_to(state["data"] / "credentials.json")
    job = _import(state["client"], state["dataset"], str(scratch))
    assert job["status"] == "CREATE FAILED"
    assert "creds.csv" in job["failureReason"] and "server's own data" in job["failureReason"]
    assert state["secret"] not in job["failureReason"]


@pytest.mark.parametrize("link", ["metadata.db", "credentials.json", ""])
def test_a_link_into_the_data_dir_fails_the_batch_job_when_opened(state, scratch, link):
    src, dst = scratch / "in", scratch / "out"
    src.mkdir()
    (src / "users.json").write_text('{"userId": "u1"}\n')
    (src / "state").symlink_to(state["data"] / link)
    job = _batch(state["client"], state["version"], src, dst)
    assert job["status"] == "CREATE FAILED" and "server's own data" in job["failureReason"]
    assert state["secret"] not in job["failureReason"]
    if dst.exists():
        _no_marker_under(dst, state["secret"])


def test_a_directory_holding_the_data_dir_is_read_without_it(state, scratch):
    """Batch input = the whole cwd: ./data is left out of the listing, so no credentials.json.out is written."""
    (scratch / "users.json").write_text('{"userId": "u1"}\n')
    dst = scratch / "out"
    job = _batch(state["client"], state["version"], state["cwd"], dst)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    written = {p.name for p in dst.rglob("*.out")}
    assert (dst / scratch.name / "users.json.out").is_file()
    assert not {"credentials.json.out", "metadata.db.out"} & written
    _no_marker_under(dst, state["secret"])


# --------------------------------------------------------------------------- open-time checks
@pytest.fixture
def tree(tmp_path) -> tuple[Path, Path]:
    """An allowed root with ``data/sub/ok.csv`` and a directory outside it holding ``ok.csv`` too."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "data" / "sub").mkdir(parents=True)
    (root / "data" / "sub" / "ok.csv").write_text("inside")
    outside.mkdir()
    (outside / "ok.csv").write_text("outside")
    return root, outside


def _swap_after_check(monkeypatch, directory: Path, outside: Path) -> None:
    """Replace ``directory`` by a link to ``outside`` right after the next path check (the race an attacker runs)."""
    check = local_files._resolved

    def racing(path):
        resolved = check(path)
        directory.rename(directory.with_name("moved"))
        directory.symlink_to(outside, target_is_directory=True)
        monkeypatch.setattr(local_files, "_resolved", check)
        return resolved

    monkeypatch.setattr(local_files, "_resolved", racing)


def test_read_swapped_for_a_link_after_the_check_fails(monkeypatch, tree):
    root, outside = tree
    _swap_after_check(monkeypatch, root / "data" / "sub", outside)
    with pytest.raises(LocationError, match="symbolic link or not a directory"):
        open_read(root / "data" / "sub" / "ok.csv", Roots((root,)))


def test_listing_swapped_for_a_link_after_the_check_fails(monkeypatch, tree):
    root, outside = tree
    _swap_after_check(monkeypatch, root / "data" / "sub", outside)
    with pytest.raises(LocationError, match="symbolic link or not a directory"):
        list_files(root / "data" / "sub", Roots((root,)))


def test_output_directory_swapped_for_a_link_after_the_check_fails(monkeypatch, tree):
    root, outside = tree
    _swap_after_check(monkeypatch, root / "data" / "sub", outside)
    with pytest.raises(LocationError, match="symbolic link or not a directory"):
        LocalOutput(root / "data" / "sub", "new.out", Roots((root,)))
    assert sorted(p.name for p in outside.iterdir()) == ["ok.csv"]


def test_a_listed_file_is_checked_again_when_opened(tree):
    """Deleted and recreated as a link between listing and opening: the open refuses it."""
    root, outside = tree
    listed = list_files(root / "data", Roots((root,)), (".csv",))
    assert listed == [root / "data" / "sub" / "ok.csv"]
    listed[0].unlink()
    listed[0].symlink_to(outside / "ok.csv")
    with pytest.raises(LocationError, match="outside"):
        open_read(listed[0], Roots((root,)))


def test_a_fifo_is_refused_without_blocking(tree):
    root, _ = tree
    fifo = root / "data" / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(LocationError, match="not a regular file"):
        open_read(fifo, Roots((root,)))


@pytest.fixture
def guarded(tmp_path) -> tuple[Path, Path, Roots]:
    """An allowed root holding ``in/ok.csv`` and the data dir ``state/``; it and its ``credentials.json`` are denied."""
    root = tmp_path / "root"
    (root / "in").mkdir(parents=True)
    (root / "in" / "ok.csv").write_text("inside")
    (root / "state").mkdir()
    (root / "state" / "credentials.json").write_text("SECRET")
    return root, root / "state", Roots((root,), (root / "state", root / "state" / "credentials.json"))


def test_a_hard_link_to_a_denied_file_is_refused_when_opened(guarded):
    """A path check cannot see a hard link; the opened file's identity can."""
    root, state, roots = guarded
    os.link(state / "credentials.json", root / "in" / "copy.csv")
    with pytest.raises(LocationError, match="server's own data") as err:
        open_read(root / "in" / "copy.csv", roots)
    assert "SECRET" not in str(err.value)


def test_the_denied_dir_renamed_after_the_check_is_refused(monkeypatch, guarded):
    """``in`` passes the path check, then the data dir is renamed to ``in``: the walk recognises it."""
    root, state, roots = guarded
    check = local_files._resolved

    def racing(path):
        resolved = check(path)
        if resolved == root / "in" / "credentials.json":
            (root / "in").rename(root / "moved")
            state.rename(root / "in")
        return resolved

    monkeypatch.setattr(local_files, "_resolved", racing)
    with pytest.raises(LocationError, match="server's own data"):
        open_read(root / "in" / "credentials.json", Roots((root,), (state,)))


def test_a_listing_leaves_the_denied_dir_out(guarded):
    root, _, roots = guarded
    assert list_files(root, roots) == [root / "in" / "ok.csv"]


def test_an_output_into_the_denied_dir_is_refused(guarded):
    root, state, roots = guarded
    with pytest.raises(LocationError, match="server's own data"):
        LocalOutput(root, "state/new.csv", roots)
    assert sorted(p.name for p in state.iterdir()) == ["credentials.json"]


def test_an_output_replacing_a_denied_file_is_refused(tmp_path):
    """A SQLite database kept in an allowed directory is denied by itself: an output may not take its name."""
    database = tmp_path / "meta.db"
    database.write_bytes(b"SQLite format 3\x00")
    with pytest.raises(LocationError, match="server's own data"):
        LocalOutput(tmp_path, "meta.db", Roots((tmp_path,), (database,)))
    assert database.read_bytes() == b"SQLite format 3\x00"
