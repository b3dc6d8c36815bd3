"""Data deletion jobs as a user meets them over boto3: users deleted stay deleted whatever ran alongside.

The server runs in this process (``openpersonalize.embedded``) so that a test can hold an import between reading
the dataset's snapshot and switching to its own, the window a concurrent deletion fell into.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import sqlalchemy as sa
from test_crash_probe import Locks

from helpers import ROLE, export_dataset, import_dataset
from openpersonalize import embedded
from openpersonalize.control import data_jobs, import_jobs
from openpersonalize.data import movielens
from server_harness import Server, unique, wait_status

DELETED = [f"gone{n}" for n in range(5)]


@dataclass
class Node:
    """An in-process server and the directory its jobs read from and write to."""

    server: embedded.EmbeddedServer
    work: Path

    def personalize(self) -> Any:
        return self.server.client("personalize")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("deletion")
    work = root / "work"
    work.mkdir()
    server = embedded.start(root / "data", [work])
    try:
        yield Node(server, work)
    finally:
        server.stop()


def _interactions(users: list[str], items: int, path: Path) -> Path:
    """``items`` interactions for each of ``users`` as an interactions CSV."""
    pairs = [(u, i) for u in users for i in range(items)]
    table = pa.table(
        {
            "USER_ID": [u for u, _ in pairs],
            "ITEM_ID": [f"i{i}" for _, i in pairs],
            "TIMESTAMP": [1_700_000_000 + i for _, i in pairs],
            "EVENT_TYPE": ["watch"] * len(pairs),
        }
    )
    return movielens.write_csv(table, path)


def _exported_users(node: Node, dataset: str) -> set[str]:
    """The USER_IDs of a dataset's rows, as a BULK export writes them."""
    users: set[str] = set()
    for part in export_dataset(node.personalize(), dataset, node.work / unique("export")):
        if part.stat().st_size:
            users |= set(pacsv.read_csv(part).column("USER_ID").cast(pa.string()).to_pylist())
    return users


def _delete_users(node: Node, group: str, users: list[str]) -> str:
    """Start a data deletion job of ``users``; its ARN."""
    personalize = node.personalize()
    listing = node.work / f"{unique('delete')}.csv"
    listing.write_text("USER_ID\n" + "".join(f"{u}\n" for u in users))
    return personalize.create_data_deletion_job(
        jobName=unique("del"), datasetGroupArn=group, roleArn=ROLE, dataSource={"dataLocation": str(listing)}
    )["dataDeletionJobArn"]


def _finished(node: Node, deletion: str) -> dict[str, Any]:
    describe = node.personalize().describe_data_deletion_job
    return wait_status(describe, "dataDeletionJob", dataDeletionJobArn=deletion)


def _group_with_users(node: Node) -> tuple[str, str]:
    """A new group and its interactions dataset: two users kept, the ``DELETED`` ones; (group, dataset)."""
    personalize = node.personalize()
    group = personalize.create_dataset_group(name=unique("dd"))["datasetGroupArn"]
    first = _interactions(["kept1", "kept2", *DELETED], 3, node.work / f"{unique('first')}.csv")
    return group, import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(first))


def _import(node: Node, dataset: str, users: list[str], mode: str) -> str:
    """Start an import of two interactions per user of ``users``; its ARN."""
    more = _interactions(users, 2, node.work / f"{unique('more')}.csv")
    return node.personalize().create_dataset_import_job(
        jobName=unique("more"), datasetArn=dataset, dataSource={"dataLocation": str(more)}, importMode=mode
    )["datasetImportJobArn"]


def _imported(node: Node, job: str) -> None:
    describe = node.personalize().describe_dataset_import_job
    done = wait_status(describe, "datasetImportJob", datasetImportJobArn=job)
    assert done["status"] == "ACTIVE", done.get("failureReason")


class Held:
    """Holds the next calls of ``module.name`` (a job's step after it read the dataset's snapshot) until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> None:
        self.reached, self.release = threading.Event(), threading.Event()
        real = getattr(module, name)

        def held(*args: Any, **kwargs: Any) -> Any:
            self.reached.set()
            assert self.release.wait(60), "the test never released the job"
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, held)


@pytest.mark.parametrize("mode", ["INCREMENTAL", "FULL"])
def test_import_running_during_a_deletion_cannot_bring_the_users_back(node, monkeypatch, mode):
    """An import started before a deletion switched to its snapshot afterwards without compare-and-set: an
    INCREMENTAL one, built on the pre-deletion snapshot, brought the deleted users back."""
    group, dataset = _group_with_users(node)
    held = Held(monkeypatch, import_jobs, "import_csv")
    job = _import(node, dataset, ["new1"], mode)
    assert held.reached.wait(60), "the import never started"
    deletion = _finished(node, _delete_users(node, group, DELETED))
    assert deletion["status"] == "COMPLETED", deletion.get("failureReason")
    held.release.set()
    _imported(node, job)

    users = _exported_users(node, dataset)
    assert not users & set(DELETED), f"deleted users came back: {sorted(users & set(DELETED))}"
    assert users == ({"kept1", "kept2", "new1"} if mode == "INCREMENTAL" else {"new1"})


def test_deletion_running_during_an_import_keeps_the_imported_rows(node, monkeypatch):
    """A deletion that read the snapshot before an import switched to its own wrote the pre-import rows over it:
    the import's rows were lost."""
    group, dataset = _group_with_users(node)
    held = Held(monkeypatch, data_jobs, "remove_users")
    deletion = _delete_users(node, group, DELETED)
    assert held.reached.wait(60), "the deletion never started"
    _imported(node, _import(node, dataset, ["new1", DELETED[0]], "INCREMENTAL"))
    held.release.set()
    done = _finished(node, deletion)
    assert done["status"] == "COMPLETED", done.get("failureReason")

    assert _exported_users(node, dataset) == {"kept1", "kept2", "new1"}


@pytest.mark.postgres
def test_delete_metric_attribution_killed_before_its_mark_went_leaves_none_to_a_new_one(tmp_path, postgres_url):
    """A server killed between deleting an attribution's row and its mark and totals left them: the attribution
    created again under the same name kept the old mark (counting events from before it existed) and totals."""
    work = tmp_path / "work"
    work.mkdir()
    server = Server(tmp_path / "data", postgres_url, [work]).start()
    locks = Locks(postgres_url)
    try:
        personalize = server.client()
        group = personalize.create_dataset_group(name=unique("ma"))["datasetGroupArn"]
        first = _interactions(["u1", "u2"], 3, work / "interactions.csv")
        import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(first))
        members = {
            "name": unique("ma"),
            "datasetGroupArn": group,
            "metrics": [{"eventType": "watch", "metricName": "WATCHES", "expression": "SAMPLECOUNT()"}],
            "metricsOutputConfig": {"roleArn": ROLE},
        }
        arn = personalize.create_metric_attribution(**members)["metricAttributionArn"]
        done = wait_status(personalize.describe_metric_attribution, "metricAttribution", metricAttributionArn=arn)
        assert done["status"] == "ACTIVE", done.get("failureReason")
        tracking = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=group)["trackingId"]
        events = [{"eventType": "watch", "itemId": f"i{n}", "sentAt": 1_700_000_000 + n} for n in range(10)]
        server.client("personalize-events").put_events(
            trackingId=tracking, userId="u1", sessionId="s", eventList=events
        )

        delete = partial(personalize.delete_metric_attribution, metricAttributionArn=arn)
        locks.kill_while_blocked(
            server, "LOCK TABLE attribution_marks IN EXCLUSIVE MODE", "DELETE FROM attribution_marks%", delete
        )

        personalize = server.client()
        with contextlib.suppress(personalize.exceptions.ResourceNotFoundException):  # the operator's retry
            personalize.delete_metric_attribution(metricAttributionArn=arn)
        assert personalize.create_metric_attribution(**members)["metricAttributionArn"] == arn
        with locks.engine.connect() as conn:
            mark = conn.execute(sa.text("SELECT through_id FROM attribution_marks WHERE arn = :a"), {"a": arn}).scalar()
            newest = conn.execute(sa.text("SELECT max(id) FROM live_events")).scalar()
        assert mark == newest, "the attribution created again counts events from before it existed"
    finally:
        locks.close()
        server.stop()
