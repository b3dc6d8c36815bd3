"""Hostile job inputs end in a short error line or a clear failure, never a blow-up (issue 13).

Replayed over HTTP with boto3, as an outside probe found them: a batch input line of 64 MiB of NUL
bytes (a sparse file; the probe's 1 GiB took 8.5 GB of memory and wrote a 6 GiB output echoing it),
a line nested 100,000 arrays deep, a data deletion CSV without a line end, an input directory
nested 1,500 levels deep, two input files of the same name in different folders, temporary output
files left by a killed job, a hard link to a file of the server's data dir, and a server started
without ``--allow-path``.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from test_file_confinement import HEADER, _batch, _deletion, _group, _import, _train

from helpers import ROLE, error_code, train
from openpersonalize.data import movielens
from openpersonalize.jobs import batch
from openpersonalize.jobs.batch import MAX_LINE_BYTES, PREFIX_BYTES
from openpersonalize.store.local_files import MAX_DEPTH, LocalOutput, LocationError, Roots, open_read
from server_harness import Server, unique, wait_status

SPARSE_BYTES = 64 << 20
STALE = ".users.json.out.0123456789abcdef.part"


@pytest.fixture(scope="module")
def trained(server, personalize):
    found = _train(server.work, personalize)
    found["segment"] = train(personalize, found["group"], ["aws-item-affinity"])["aws-item-affinity"]
    return found


def _segment(personalize, version: str, src: Path, dst: Path) -> dict:
    arn = personalize.create_batch_segment_job(
        jobName=unique("seg"),
        solutionVersionArn=version,
        roleArn=ROLE,
        numResults=5,
        jobInput={"s3DataSource": {"path": str(src)}},
        jobOutput={"s3DataDestination": {"path": str(dst)}},
    )["batchSegmentJobArn"]
    return wait_status(personalize.describe_batch_segment_job, "batchSegmentJob", batchSegmentJobArn=arn)


def _run(kind: str, personalize, trained: dict, src: Path, dst: Path) -> dict:
    if kind == "segment":
        return _segment(personalize, trained["segment"], src, dst)
    return _batch(personalize, trained["version"], src, dst)


GOOD_LINE = {"inference": '{"userId": "u1"}', "segment": '{"itemIds": ["i1"]}'}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _sparse(path: Path, after: bytes = b"") -> None:
    """``SPARSE_BYTES`` NUL bytes (no disk used, no newline), then ``after``."""
    with path.open("wb") as handle:
        handle.truncate(SPARSE_BYTES)
        handle.seek(SPARSE_BYTES)
        handle.write(after)


def _job_dirs(server) -> tuple[Path, Path]:
    src, dst = server.work / unique("in"), server.work / unique("out")
    src.mkdir()
    return src, dst


# --------------------------------------------------------------------------- attacker-sized lines
@pytest.mark.parametrize("kind", ["inference", "segment"])
def test_an_overlong_line_is_one_short_error_line(server, personalize, trained, kind):
    """64 MiB of NUL bytes without a newline: one short error line, then the next line is answered."""
    src, dst = _job_dirs(server)
    _sparse(src / "big.json", b"\n" + GOOD_LINE[kind].encode() + b"\n")
    job = _run(kind, personalize, trained, src, dst)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    out = dst / "big.json.out"
    assert out.stat().st_size < 8192
    first, second = _lines(out)
    assert first["output"] is None and f"longer than {MAX_LINE_BYTES} bytes" in first["error"]
    assert first["input"] == "\x00" * PREFIX_BYTES + "..."
    assert second["error"] is None and second["output"]


def test_lines_are_cut_at_the_bound_across_reads(monkeypatch):
    """Reads of 4 bytes, a bound of 10: lines spanning reads come out whole, over-long ones as their first 5 bytes."""
    monkeypatch.setattr(batch, "READ_BYTES", 4)
    monkeypatch.setattr(batch, "PREFIX_BYTES", 5)
    data = b"abc\ndef\r\n\n" + b"a" * 25 + b"\nok\n" + b"b" * 10 + b"\n" + b"c" * 11
    lines = list(batch.iter_lines(io.BytesIO(data), limit=10))
    assert lines == [b"abc", b"def", b"", b"a" * 5, b"ok", b"b" * 10, b"c" * 5]
    assert [isinstance(line, batch.OverlongLine) for line in lines] == [False] * 3 + [True, False, False, True]


@pytest.mark.parametrize("kind", ["inference", "segment"])
def test_a_deeply_nested_line_is_one_error_line(server, personalize, trained, kind):
    """The probe's '[' * 100000 ended the whole job CREATE FAILED with a RecursionError."""
    src, dst = _job_dirs(server)
    (src / "deep.json").write_text("[" * 100_000 + "\n" + GOOD_LINE[kind] + "\n")
    job = _run(kind, personalize, trained, src, dst)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    first, second = _lines(dst / "deep.json.out")
    assert "nest deeper" in first["error"] and len(first["input"]) <= PREFIX_BYTES + 3
    assert second["error"] is None and second["output"]


def test_a_deletion_csv_without_a_line_end_fails_the_job(server, personalize, trained):
    path = server.work / (unique("sparse") + ".csv")
    _sparse(path)
    with path.open("r+b") as handle:
        handle.write(b"USER_ID\n")
    job = _deletion(personalize, _group(personalize), path)
    assert job["status"] == "FAILED"
    assert "not a readable CSV" in job["failureReason"] and len(job["failureReason"]) < 500


def test_a_deletion_csv_is_read_in_blocks_whatever_its_other_columns(server, personalize):
    """More than one block, with a column that turns from integers to text after the first block."""
    group = _group(personalize)
    path = server.work / (unique("users") + ".csv")
    rows = "".join(f"u{i},{i}\n" for i in range(200_000))
    path.write_text("USER_ID,N\n" + rows + "u-last,text\n")
    assert path.stat().st_size > 2 << 20
    job = _deletion(personalize, group, path)
    assert job["status"] == "COMPLETED", job.get("failureReason")


# --------------------------------------------------------------------------- deep input directories
@pytest.fixture
def deep_dir(server):
    """An input directory holding users.json and, below it, directories nested 1,500 levels deep."""
    top = path = server.work / unique("deep")
    top.mkdir()
    for _ in range(1500):  # one level at a time: Path.mkdir(parents=True) recurses as deep
        path = path / "d"
        path.mkdir()
    (top / "users.json").write_text('{"userId": "u1"}\n')
    (top / "users.csv").write_text(HEADER + "u1,i1,click,5\n")
    yield top
    (top / "users.json").unlink()
    (top / "users.csv").unlink()
    while path != top.parent:  # shutil.rmtree recurses as deep
        path.rmdir()
        path = path.parent


@pytest.mark.parametrize("job", ["import", "batch"])
def test_a_deeply_nested_input_directory_fails_clearly(server, personalize, trained, deep_dir, job):
    if job == "import":
        done = _import(personalize, trained["dataset"], str(deep_dir))
    else:
        done = _batch(personalize, trained["version"], deep_dir, server.work / unique("out"))
    assert done["status"] == "CREATE FAILED"
    assert f"nests directories deeper than {MAX_DEPTH} levels" in done["failureReason"]


# --------------------------------------------------------------------------- output names
def test_same_named_inputs_in_different_folders_keep_their_outputs(server, personalize, trained):
    src, dst = _job_dirs(server)
    (src / "sub").mkdir()
    (src / "a.json").write_text('{"userId": "u1"}\n')
    (src / "sub" / "a.json").write_text('{"userId": "u2"}\n')
    job = _batch(personalize, trained["version"], src, dst)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert _lines(dst / "a.json.out")[0]["input"] == {"userId": "u1"}
    assert _lines(dst / "sub" / "a.json.out")[0]["input"] == {"userId": "u2"}


def test_stale_temporary_outputs_of_a_killed_job_are_removed(server, personalize, trained, tmp_path):
    """What a kill -9 leaves (``.users.json.out.<hex>.part``) goes when the output is written again; nothing else."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    src, dst = _job_dirs(server)
    (src / "users.json").write_text('{"userId": "u1"}\n')
    dst.mkdir()
    (dst / STALE).write_text("partial")
    (dst / ".users.json.out.fedcba9876543210.part").symlink_to(victim)
    kept = [".users.json.out.part", ".users.json.out.notours.part", ".other.json.out.0123456789abcdef.part"]
    for name in kept:
        (dst / name).write_text("not ours")
    job = _batch(personalize, trained["version"], src, dst)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert sorted(p.name for p in dst.iterdir()) == sorted([*kept, "users.json.out"])
    assert victim.read_text() == "keep"


def test_local_output_removes_only_its_own_stale_temporaries(tmp_path):
    (tmp_path / STALE).write_text("partial")
    (tmp_path / ".users.json.out.0123456789ABCDEF.part").write_text("not our pattern")
    out = LocalOutput(tmp_path, "users.json.out", Roots((tmp_path,)))
    out.write(b"done\n")
    out.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".users.json.out.0123456789ABCDEF.part", "users.json.out"]


# --------------------------------------------------------------------------- hard links into the data dir
def test_a_hard_link_to_a_model_file_is_refused(server, personalize, trained):
    """``ln DATA/objects/models/<sv>/manifest.json allowed/x.json``: the batch job echoed the manifest."""
    manifest = next(server.data_dir.rglob("manifest.json"))
    src, dst = _job_dirs(server)
    os.link(manifest, src / "x.json")
    job = _batch(personalize, trained["version"], src, dst)
    assert job["status"] == "CREATE FAILED" and "other hard links" in job["failureReason"]
    assert not dst.exists() or not list(dst.rglob("*.out"))


def test_a_hard_linked_file_beside_a_denied_dir_is_refused(tmp_path):
    root, state = tmp_path / "root", tmp_path / "state"
    root.mkdir()
    state.mkdir()
    (state / "model.bin").write_text("MODEL")
    os.link(state / "model.bin", root / "x.json")
    (root / "plain.json").write_text("{}")
    roots = Roots((root,), (state,))
    with pytest.raises(LocationError, match="other hard links") as err:
        open_read(root / "x.json", roots)
    assert "MODEL" not in str(err.value)
    with open_read(root / "plain.json", roots) as handle:
        assert handle.read() == b"{}"
    with open_read(root / "x.json", Roots((root,))) as handle:  # nothing denied: nothing to mistake it for
        assert handle.read() == b"MODEL"


# --------------------------------------------------------------------------- no local directory by default
def test_a_server_without_allow_path_allows_no_local_directory(tmp_path, s3_server):
    """Started from $HOME, the old default (the cwd) let any client read ~/.ssh through a batch job."""
    (tmp_path / "users.csv").write_text(HEADER + "u1,i1,click,5\n")
    server = Server(tmp_path / "data", None, [], {"OPENPERSONALIZE_S3_ENDPOINT_URL": s3_server}, cwd=tmp_path)
    server.start()
    try:
        personalize = server.client()
        group = personalize.create_dataset_group(name=unique("noallow"))["datasetGroupArn"]
        schema = personalize.create_schema(name=unique("s"), schema=json.dumps(movielens.INTERACTIONS_SCHEMA))
        dataset = personalize.create_dataset(
            name=unique("d"), datasetType="INTERACTIONS", datasetGroupArn=group, schemaArn=schema["schemaArn"]
        )["datasetArn"]
        with pytest.raises(ClientError) as err:
            personalize.create_dataset_import_job(
                jobName=unique("imp"), datasetArn=dataset, dataSource={"dataLocation": str(tmp_path / "users.csv")}
            )
        assert error_code(err) == "InvalidInputException"
        assert "--allow-path" in str(err.value) and "allows no local directory" in str(err.value)
        job = personalize.create_dataset_import_job(
            jobName=unique("imp"), datasetArn=dataset, dataSource={"dataLocation": "s3://no-such-bucket/users.csv"}
        )
        assert job["datasetImportJobArn"]
    finally:
        server.stop()
