"""Batch inference, batch segments, dataset export and data deletion through boto3 on ml-latest-small."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from operator import mul
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError

from helpers import ROLE, deploy, error_code, import_dataset, requires
from openpersonalize.data import movielens
from openpersonalize.filters.attributes import attribute_items
from openpersonalize.jobs.batch import BLOCK_LINES, POOL_MIN_BLOCKS, LineError, answer_block
from openpersonalize.jobs.process_pool import OrderedPool, WorkerError
from server_harness import unique, wait_status

USERS = ["1", "42", "610"]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def group(personalize, poc_group):
    """The shared trained POC group and a UP campaign of this suite's own."""
    up = {"aws-user-personalization": poc_group["versions"]["aws-user-personalization"]}
    return {**poc_group, "campaign": deploy(personalize, up)["aws-user-personalization"]}


def _batch(personalize, version: str, src: str, dst: str, **kwargs) -> dict:
    arn = personalize.create_batch_inference_job(
        jobName=unique("batch"),
        solutionVersionArn=version,
        roleArn=ROLE,
        jobInput={"s3DataSource": {"path": src}},
        jobOutput={"s3DataDestination": {"path": dst}},
        **kwargs,
    )["batchInferenceJobArn"]
    return wait_status(personalize.describe_batch_inference_job, "batchInferenceJob", batchInferenceJobArn=arn)


def test_seed_batch_over_s3_equals_get_recommendations(server, personalize, group, s3_server):
    """Notebook 05's batch section: 3 users in S3, <input>.out at the bucket root, one line per user."""
    s3 = boto3.client(
        "s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="x"
    )
    bucket = unique("bucket")
    s3.create_bucket(Bucket=bucket)
    body = "".join('{"userId": "' + u + '"}\n' for u in USERS)
    s3.put_object(Bucket=bucket, Key="json_input.json", Body=body.encode())
    started = time.time()
    job = _batch(
        personalize, group["versions"]["aws-user-personalization"], f"s3://{bucket}/json_input.json", f"s3://{bucket}/"
    )
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert time.time() - started < 30
    out = s3.get_object(Bucket=bucket, Key="json_input.json.out")["Body"].read().decode()
    lines = [json.loads(x) for x in out.splitlines()]
    assert [line["input"]["userId"] for line in lines] == USERS
    runtime = server.client("personalize-runtime")
    for line in lines:
        assert line["error"] is None
        expected = runtime.get_recommendations(campaignArn=group["campaign"], userId=line["input"]["userId"])
        assert line["output"]["recommendedItems"] == [i["itemId"] for i in expected["itemList"]]
        assert line["output"]["scores"] == [i["score"] for i in expected["itemList"]]
        assert len(line["output"]["recommendedItems"]) == 25
    listed = personalize.list_batch_inference_jobs(solutionVersionArn=group["versions"]["aws-user-personalization"])
    assert job["batchInferenceJobArn"] in [j["batchInferenceJobArn"] for j in listed["batchInferenceJobs"]]
    assert job["jobInput"]["s3DataSource"]["path"] == f"s3://{bucket}/json_input.json"


def test_batch_with_filter_and_num_results(server, personalize, group):
    expr = "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)"
    filt = personalize.create_filter(name=unique("f"), datasetGroupArn=group["group"], filterExpression=expr)
    src = server.work / unique("filtered") / "users.json"
    src.parent.mkdir()
    src.write_text("".join(json.dumps({"userId": u, "filterValues": {"GENRE": '"Comedy"'}}) + "\n" for u in USERS))
    dst = src.parent / "out"
    job = _batch(
        personalize,
        group["versions"]["aws-user-personalization"],
        f"file://{src}",
        str(dst),
        numResults=7,
        filterArn=filt["filterArn"],
    )
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert job["numResults"] == 7
    runtime = server.client("personalize-runtime")
    for line in _lines(dst / "users.json.out"):
        expected = runtime.get_recommendations(
            campaignArn=group["campaign"],
            userId=line["input"]["userId"],
            numResults=7,
            filterArn=filt["filterArn"],
            filterValues={"GENRE": '"Comedy"'},
        )
        assert line["output"]["recommendedItems"] == [i["itemId"] for i in expected["itemList"]]


def test_ranking_batch(server, personalize, group):
    src = server.work / unique("rank") / "rank.json"
    src.parent.mkdir()
    lists = {"1": ["1", "2", "3", "260", "1196", "no-such-item"], "42": ["50", "296", "318"]}
    src.write_text("".join(json.dumps({"userId": u, "itemList": items}) + "\n" for u, items in lists.items()))
    job = _batch(personalize, group["versions"]["aws-personalized-ranking"], str(src), str(src.parent))
    assert job["status"] == "ACTIVE", job.get("failureReason")
    lines = _lines(src.parent / "rank.json.out")
    assert len(lines) == 2
    for line in lines:
        given = lists[line["input"]["userId"]]
        ranked = line["output"]["recommendedItems"]
        assert sorted(ranked) == sorted(given)
        assert ranked[-1] != "1196" or "no-such-item" not in given
        if "no-such-item" in given:
            assert ranked[-1] == "no-such-item"
        known = [s for s in line["output"]["scores"] if s is not None]
        assert known == sorted(known, reverse=True)


def test_sims_batch(server, personalize, group):
    src = server.work / unique("sims") / "items.json"
    src.parent.mkdir()
    src.write_text('{"itemId": "1"}\n{"itemId": "589"}\n')
    job = _batch(personalize, group["versions"]["aws-sims"], str(src), str(src.parent), numResults=10)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    lines = _lines(src.parent / "items.json.out")
    assert [line["input"]["itemId"] for line in lines] == ["1", "589"]
    for line in lines:
        recs = line["output"]["recommendedItems"]
        assert len(recs) == 10 and line["input"]["itemId"] not in recs


def test_malformed_lines_yield_error_lines(server, personalize, group):
    src = server.work / unique("bad") / "mixed.json"
    src.parent.mkdir()
    src.write_text('{"userId": "1"}\nnot json at all\n\n{"itemId": "5"}\n[1, 2]\n{"userId": "42"}\n')
    job = _batch(personalize, group["versions"]["aws-user-personalization"], str(src), str(src.parent))
    assert job["status"] == "ACTIVE", job.get("failureReason")
    lines = _lines(src.parent / "mixed.json.out")
    assert len(lines) == 5
    assert [line["error"] is None for line in lines] == [True, False, False, False, True]
    assert lines[1]["input"] == "not json at all" and lines[1]["output"] is None
    assert "userId" in lines[2]["error"]
    assert lines[4]["output"]["recommendedItems"]


def test_large_batch_on_worker_processes_equals_small_batch(server, personalize, group):
    """An input of several blocks goes to worker processes: same lines, in order, as a small in-process job."""
    expr = "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)"
    filt = personalize.create_filter(name=unique("f"), datasetGroupArn=group["group"], filterExpression=expr)
    lines = []
    for n in range(POOL_MIN_BLOCKS * BLOCK_LINES + 200):
        if n % 997 == 5:
            lines.append("not json")
        elif n == 7:
            lines.append(json.dumps({"userId": "3", "filterValues": {"GENRE": 1}}))
        else:
            genre = '"Comedy"' if n % 2 else '"Drama", "Horror"'
            lines.append(json.dumps({"userId": str(1 + n % 610), "filterValues": {"GENRE": genre}}))
    src = server.work / unique("large") / "users.json"
    src.parent.mkdir()
    src.write_text("\n".join(lines) + "\n")
    small = src.parent / "small.json"
    small.write_text("\n".join(lines[:700]) + "\n")
    version = group["versions"]["aws-user-personalization"]
    for path in (src, small):
        job = _batch(personalize, version, str(path), str(src.parent), numResults=9, filterArn=filt["filterArn"])
        assert job["status"] == "ACTIVE", job.get("failureReason")
    large_out = (src.parent / "users.json.out").read_text().splitlines()
    assert len(large_out) == len(lines)
    assert large_out[:700] == (src.parent / "small.json.out").read_text().splitlines()
    parsed = [json.loads(line) for line in large_out]
    for n, (line, out) in enumerate(zip(lines, parsed, strict=True)):
        assert (out["input"] if n % 997 == 5 else json.dumps(out["input"])) == line
    assert [n for n, p in enumerate(parsed) if p["error"]] == [5, 7, *range(1002, len(lines), 997)]
    runtime = server.client("personalize-runtime")
    for line in (parsed[-1], parsed[-2]):
        expected = runtime.get_recommendations(
            campaignArn=group["campaign"],
            userId=line["input"]["userId"],
            numResults=9,
            filterArn=filt["filterArn"],
            filterValues=line["input"]["filterValues"],
        )
        assert line["output"]["recommendedItems"] == [i["itemId"] for i in expected["itemList"]]
        assert line["output"]["scores"] == [i["score"] for i in expected["itemList"]]


def test_answer_block_keeps_every_line():
    """Error lines in place; inputs orjson refuses (lone surrogate, huge integer) are still echoed as valid JSON."""
    raws = [b'{"userId": "\\ud800"}', b'{"userId": 123456789012345678901234567890}', b"nope", b'{"bad": 1}']

    def handle(lines):
        return [LineError("no userId") if "bad" in line else {"user": str(line["userId"])} for line in lines]

    answered = answer_block(raws, handle)
    out = [json.loads(line) for line in answered.data.splitlines()]
    assert (answered.lines, answered.errors) == (4, 2)
    assert out[0] == {"input": {"userId": "\ud800"}, "output": {"user": "\ud800"}, "error": None}
    assert out[1]["output"] == {"user": "123456789012345678901234567890"}
    assert out[2]["input"] == "nope" and "not valid JSON" in out[2]["error"]
    assert out[3] == {"input": {"bad": 1}, "output": None, "error": "no userId"}


def test_ordered_pool_keeps_order_and_reports_errors():
    with OrderedPool(partial(partial, mul, 3), {}, processes=2, depth=1) as pool:
        assert list(pool.imap(range(5))) == [0, 3, 6, 9, 12]
    with OrderedPool(partial(partial, mul, 3), {}, processes=2) as pool:
        assert list(pool.imap(range(50))) == [3 * n for n in range(50)]
        with pytest.raises(WorkerError) as err:
            list(pool.imap([1, None, 2]))
        assert "TypeError" in err.value.message
    with OrderedPool(partial(partial, os._exit), {}, processes=2) as pool:
        with pytest.raises(WorkerError) as err:
            list(pool.imap([3, 4]))
        assert err.value.message == "A worker process died (exit code 3)."


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


@requires(Path("/proc").exists(), "reads worker states from /proc (Linux)")
def test_pool_workers_die_with_a_killed_parent():
    """A killed server (SIGKILL, no cleanup) leaves no batch worker running: busy workers exit at once."""
    script = (
        "import threading, time\n"
        "from functools import partial\n"
        "from openpersonalize.jobs.process_pool import OrderedPool\n"
        "pool = OrderedPool(partial(partial, time.sleep), {}, processes=2)\n"
        "threading.Thread(target=lambda: list(pool.imap([600, 600, 600])), daemon=True).start()\n"
        "print(*pool.pids, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(workers) == 2 and not any(_gone(pid) for pid in workers)
        time.sleep(0.5)
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
    deadline = time.time() + 20
    while time.time() < deadline and not all(_gone(pid) for pid in workers):
        time.sleep(0.1)
    assert all(_gone(pid) for pid in workers)


def test_missing_input_fails_the_job(server, personalize, group):
    missing = server.work / unique("nowhere") / "input.json"
    job = _batch(personalize, group["versions"]["aws-user-personalization"], str(missing), str(server.work))
    assert job["status"] == "CREATE FAILED"
    assert "does not exist" in job["failureReason"]


def test_refusals(server, personalize, group):
    src = server.work / "x.json"
    with pytest.raises(ClientError) as err:
        _batch(
            personalize,
            group["versions"]["aws-user-personalization"],
            str(src),
            str(server.work),
            batchInferenceJobMode="THEME_GENERATION",
        )
    assert error_code(err) == "InvalidInputException" and "THEME_GENERATION" in str(err.value)
    with pytest.raises(ClientError) as err:
        _batch(personalize, group["versions"]["aws-user-personalization"], "/etc/passwd", str(server.work))
    assert error_code(err) == "InvalidInputException"
    with pytest.raises(ClientError) as err:
        _batch(personalize, group["versions"]["aws-user-personalization"], str(src), "/etc")
    assert error_code(err) == "InvalidInputException"


def test_item_affinity_segment(server, personalize, group, movielens_dir):
    src = server.work / unique("seg") / "items.json"
    src.parent.mkdir()
    src.write_text('{"itemIds": ["1"]}\n{"itemIds": ["589", "1240"]}\n{"itemIds": "oops"}\n')
    arn = personalize.create_batch_segment_job(
        jobName=unique("seg"),
        solutionVersionArn=group["versions"]["aws-item-affinity"],
        roleArn=ROLE,
        numResults=20,
        jobInput={"s3DataSource": {"path": str(src)}},
        jobOutput={"s3DataDestination": {"path": str(src.parent)}},
    )["batchSegmentJobArn"]
    job = wait_status(personalize.describe_batch_segment_job, "batchSegmentJob", batchSegmentJobArn=arn)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    lines = _lines(src.parent / "items.json.out")
    assert len(lines) == 3
    assert lines[2]["error"] and lines[2]["output"] is None
    for line in lines[:2]:
        users = line["output"]["usersList"]
        assert len(users) == 20 and len(set(users)) == 20
    listed = personalize.list_batch_segment_jobs(solutionVersionArn=group["versions"]["aws-item-affinity"])
    assert [j["batchSegmentJobArn"] for j in listed["batchSegmentJobs"]] == [arn]
    with pytest.raises(ClientError) as err:
        personalize.create_batch_segment_job(
            jobName=unique("seg"),
            solutionVersionArn=group["versions"]["aws-user-personalization"],
            roleArn=ROLE,
            jobInput={"s3DataSource": {"path": str(src)}},
            jobOutput={"s3DataDestination": {"path": str(src.parent)}},
        )
    assert error_code(err) == "InvalidInputException"


def test_large_segment_on_workers_equals_small_segment(server, personalize, group):
    """A segment input of several blocks is answered on the executor's workers: every query line gets the users an
    in-process job gives it, error lines stay errors, in input order."""
    lines = []
    for n in range(POOL_MIN_BLOCKS * BLOCK_LINES + 100):
        if n % 50 == 0:
            lines.append(json.dumps({"itemIds": [str(1 + n % 300), "1240"]}))
        else:
            lines.append("not json" if n % 50 == 1 else json.dumps({"itemIds": ["no-such-item"]}))
    src = server.work / unique("segments") / "items.json"
    src.parent.mkdir()
    src.write_text("\n".join(lines) + "\n")
    small = src.parent / "small.json"
    small.write_text("\n".join(lines[:300]) + "\n")
    for path in (src, small):
        arn = personalize.create_batch_segment_job(
            jobName=unique("seg"),
            solutionVersionArn=group["versions"]["aws-item-affinity"],
            roleArn=ROLE,
            numResults=5,
            jobInput={"s3DataSource": {"path": str(path)}},
            jobOutput={"s3DataDestination": {"path": str(src.parent)}},
        )["batchSegmentJobArn"]
        job = wait_status(personalize.describe_batch_segment_job, "batchSegmentJob", batchSegmentJobArn=arn)
        assert job["status"] == "ACTIVE", job.get("failureReason")
    large_out = (src.parent / "items.json.out").read_text().splitlines()
    small_out = (src.parent / "small.json.out").read_text().splitlines()
    assert len(large_out) == len(lines) and large_out[:300] == small_out
    in_process = {json.dumps(json.loads(line)["input"]): line for line in small_out[::50]}
    assert len(in_process) == 6
    for n, line in enumerate(large_out):
        if n % 50 == 0:
            assert line == in_process[lines[n]]
        else:
            assert json.loads(line)["output"] is None and json.loads(line)["error"]


def test_attribute_expression():
    meta = {"GENRE": ["Comedy|Drama", "Action", None, "comedy"], "YEAR": [1995, 1995, 2000, 2001]}
    assert attribute_items('ITEMS.GENRE = "Comedy"', meta, 4).tolist() == [True, False, False, True]
    got = attribute_items('ITEMS.GENRE = "Comedy" AND ITEMS.YEAR = "1995" OR ITEMS.genre = "Action"', meta, 4)
    assert got.tolist() == [True, True, False, False]
    assert np.asarray(attribute_items('ITEMS.YEAR = "2000"', meta, 4)).sum() == 1


def _export(personalize, dataset: str, dst: Path, mode: str = "BULK") -> dict:
    arn = personalize.create_dataset_export_job(
        jobName=unique("exp"),
        datasetArn=dataset,
        ingestionMode=mode,
        roleArn=ROLE,
        jobOutput={"s3DataDestination": {"path": str(dst)}},
    )["datasetExportJobArn"]
    return wait_status(personalize.describe_dataset_export_job, "datasetExportJob", datasetExportJobArn=arn)


def _exported_rows(dst: Path, job: dict) -> list[dict]:
    files = list((dst / job["jobName"]).glob("*.csv"))
    assert len(files) == 1
    with files[0].open() as handle:
        return list(csv.DictReader(handle))


def test_export_then_deletion(server, personalize, movielens_dir):
    """On a group of its own (untrained): the deletion must not change the data the shared trained group holds."""
    ints = movielens.prepare_interactions(movielens_dir / "ratings.csv")
    csv_path = movielens.write_csv(ints, server.work / (unique("ints") + ".csv"))
    group = personalize.create_dataset_group(name=unique("export"))["datasetGroupArn"]
    dataset = import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(csv_path))
    dst = server.work / unique("export")
    job = _export(personalize, dataset, dst)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    rows = _exported_rows(dst, job)
    assert len(rows) == ints.num_rows
    assert set(rows[0]) == {"USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"}
    assert any(r["USER_ID"] == "42" for r in rows)
    listed = personalize.list_dataset_export_jobs(datasetArn=dataset)
    assert [j["datasetExportJobArn"] for j in listed["datasetExportJobs"]] == [job["datasetExportJobArn"]]
    put_only = _export(personalize, dataset, dst, "PUT")
    assert put_only["status"] == "ACTIVE", put_only.get("failureReason")

    ids = server.work / (unique("delete") + ".csv")
    ids.write_text("USER_ID\n42\n7\nnobody\n")
    arn = personalize.create_data_deletion_job(
        jobName=unique("del"),
        datasetGroupArn=group,
        roleArn=ROLE,
        dataSource={"dataLocation": str(ids)},
    )["dataDeletionJobArn"]
    done = wait_status(personalize.describe_data_deletion_job, "dataDeletionJob", dataDeletionJobArn=arn)
    assert done["status"] == "COMPLETED", done.get("failureReason")
    removed = sum(1 for r in rows if r["USER_ID"] in ("42", "7"))
    assert done["numDeleted"] == removed > 0
    listed = personalize.list_data_deletion_jobs(datasetGroupArn=group)
    assert [j["dataDeletionJobArn"] for j in listed["dataDeletionJobs"]] == [arn]

    after = _export(personalize, dataset, dst)
    assert after["status"] == "ACTIVE", after.get("failureReason")
    rows_after = _exported_rows(dst, after)
    assert len(rows_after) == len(rows) - removed
    assert not any(r["USER_ID"] in ("42", "7") for r in rows_after)

    missing = personalize.create_data_deletion_job(
        jobName=unique("del"),
        datasetGroupArn=group,
        roleArn=ROLE,
        dataSource={"dataLocation": str(server.work / "no-such.csv")},
    )["dataDeletionJobArn"]
    failed = wait_status(personalize.describe_data_deletion_job, "dataDeletionJob", dataDeletionJobArn=missing)
    assert failed["status"] == "FAILED" and "does not exist" in failed["failureReason"]
