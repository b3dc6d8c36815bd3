"""The table of resource kinds, and the Describe/List/Delete operations every kind gets from it.

A row says how a kind is named (stored kind, label, request and response members), where it
hangs (the parent a List may filter by), which statuses it moves through, and how Delete treats
what depends on it. Create and Update stay with each kind's module: they are what differs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..errors import ResourceInUseException, ResourceNotFoundException
from ..store.metadata import Connection, InsertGuard, Resource
from . import base
from .base import (
    Call,
    Control,
    Operation,
    delete_resource,
    describe,
    insert_resource,
    paginate,
)


@dataclass(frozen=True)
class StatusModel:
    """The statuses a kind moves through: where it starts, which are unfinished, a job's running and failed ones."""

    initial: str | None
    unfinished: tuple[str, ...] = ()
    running: str | None = None
    failed: str | None = None


NO_STATUS = StatusModel(None)  # schemas
READY = StatusModel(base.ACTIVE)  # created ACTIVE: groups, datasets, solutions, filters, trackers
# jobs, versions, campaigns
LIFECYCLE = StatusModel(base.CREATE_PENDING, base.UNFINISHED, base.CREATE_IN_PROGRESS, base.CREATE_FAILED)
# DataDeletionJob statuses (Personalize uses its own set for this resource)
PENDING, IN_PROGRESS, COMPLETED, FAILED = "PENDING", "IN_PROGRESS", "COMPLETED", "FAILED"
DELETION_JOB = StatusModel(PENDING, (PENDING, IN_PROGRESS), IN_PROGRESS, FAILED)


@dataclass(frozen=True)
class Deletion:
    """How Delete treats a kind's dependents (its descendants, and ``referenced_by`` users).

    ``guarded`` False: only the resource goes (it has no dependents). Otherwise a dependent
    refuses the delete (ResourceInUseException), unless its kind is in ``finished_go_along`` and
    it is finished: then it is deleted with the resource. Descendants count at every depth: a
    solution's versions and their batch jobs alike. ``busy`` names what else, still unfinished, refuses it.
    """

    guarded: bool = True
    finished_go_along: tuple[str, ...] = ()
    referenced_by: tuple[str, str] | None = None
    busy: Callable[[Call, Resource], list[str]] | None = None  # unfinished work elsewhere that holds it (ARNs)
    within: Callable[[Call, Resource, Connection], None] | None = None  # what goes in the delete's transaction


@dataclass(frozen=True)
class ResourceKind:
    """One row of the table: how a kind is named, where it hangs and which statuses it has."""

    kind: str  # the stored kind and the ARN's resource type, e.g. "dataset-group"
    name: str  # in operation names: Describe{name}, List{name}s, Delete{name}
    label: str  # in error messages
    arn_key: str  # the request member naming one, e.g. "datasetGroupArn"
    describe_key: str  # the Describe response member
    list_key: str  # the List response member
    parent_key: str | None  # the List request member filtering by parent
    parent_kind: str | None  # when set, a List's parent must exist with this kind
    status: StatusModel
    deletion: Deletion | None = None  # None: no Delete operation
    list_fields: tuple[str, ...] | None = None  # a List's summary members, when fewer than Describe's

    def arn(self, call: Call, name: str) -> str:
        return call.arn(self.kind, name)

    def get(self, call: Call, arn: str) -> Resource:
        """The resource or a ResourceNotFoundException naming it."""
        res = call.store.get(arn)
        if res is None or res.kind != self.kind:
            raise ResourceNotFoundException(f"{self.label} {arn} does not exist.")
        return res

    def fail(self, control: Control, arn: str, reason: str) -> None:
        """End a job in the kind's failed status with ``reason`` (what the job runner calls when it cannot run)."""
        control.store.update(arn, status=self.status.failed, failureReason=reason)

    def unfinished(self, res: Resource) -> bool:
        return res.status in self.status.unfinished

    def start(self, control: Control, arn: str) -> Resource | None:
        """Claim a queued job: the job, now in its running status, or None when it is settled already."""
        job = control.store.get(arn)
        if job is None or not self.unfinished(job):
            return None
        control.store.update(arn, status=self.status.running)
        return job

    def parent_of(self, control: Control, job: Resource, gone: str) -> Resource | None:
        """A started job's parent resource; when it was deleted meanwhile, the job fails saying ``gone``."""
        assert self.parent_key is not None
        parent = control.store.get(job.doc[self.parent_key])
        if parent is None:
            self.fail(control, job.arn, gone)
        return parent


def _kind(
    name: str,
    *,
    parent: tuple[str, str | None] | None = None,
    status: StatusModel = READY,
    deletion: Deletion | None = None,
    list_fields: tuple[str, ...] | None = None,
    list_key: str | None = None,
) -> ResourceKind:
    """A row whose names follow Personalize's: ``FooBar`` is stored as ``foo-bar``, called "Foo bar" in
    messages, and its members are ``fooBarArn``, ``fooBar`` and (unless ``list_key`` says otherwise) ``fooBars``."""
    words = re.findall("[A-Z][a-z]*", name)
    kind, label = "-".join(words).lower(), " ".join(words).capitalize()
    member = name[0].lower() + name[1:]
    parent_key, parent_kind = parent or (None, None)
    list_key = list_key or member + "s"
    return ResourceKind(
        kind, name, label, member + "Arn", member, list_key, parent_key, parent_kind, status, deletion, list_fields
    )


def _group_trainings(call: Call, dataset: Resource) -> list[str]:
    """The dataset group's solution versions and recommenders still training: Personalize refuses DeleteDataset
    while an associated SolutionVersion is CREATE PENDING or IN PROGRESS."""
    group = dataset.doc["datasetGroupArn"]
    recommenders = call.store.children(group, (RECOMMENDER.kind,))
    training = [r.arn for r in recommenders if r.status in base.UNFINISHED or r.doc.get("_pending")]
    for solution in call.store.children(group, (SOLUTION.kind,)):
        versions = call.store.children(solution.arn, (SOLUTION_VERSION.kind,))
        training += [v.arn for v in versions if v.status in base.UNFINISHED]
    return training


def _forget_live_data(call: Call, dataset: Resource, conn: Connection) -> None:
    """A dataset's live events or records go in the transaction that deletes it: a server killed between the two
    left them to its campaigns and to a dataset created again under its name."""
    doc = dataset.doc
    call.control.events.forget_dataset(dataset.arn, doc["datasetGroupArn"], doc["datasetType"], conn)


def _forget_totals(call: Call, attribution: Resource, conn: Connection) -> None:
    """An attribution's mark, totals and pending hours go in the transaction that deletes it: a server killed
    between the two left them to an attribution created again under its name (files already written stay)."""
    call.control.attribution.forget(attribution.arn, conn)


DATA_DELETION_JOB = _kind("DataDeletionJob", parent=("datasetGroupArn", None), status=DELETION_JOB)
# A finished data deletion job goes with its group: Personalize has no operation deleting one.
DATASET_GROUP = _kind("DatasetGroup", deletion=Deletion(finished_go_along=(DATA_DELETION_JOB.kind,)))
SCHEMA = _kind("Schema", status=NO_STATUS, deletion=Deletion(referenced_by=("dataset", "schemaArn")))
DATASET_IMPORT_JOB = _kind("DatasetImportJob", parent=("datasetArn", None), status=LIFECYCLE)
DATASET_EXPORT_JOB = _kind("DatasetExportJob", parent=("datasetArn", None), status=LIFECYCLE)
DATASET = _kind(
    "Dataset",
    parent=("datasetGroupArn", DATASET_GROUP.kind),
    deletion=Deletion(
        finished_go_along=(DATASET_IMPORT_JOB.kind, DATASET_EXPORT_JOB.kind),
        busy=_group_trainings,
        within=_forget_live_data,
    ),
)
SOLUTION_VERSION = _kind("SolutionVersion", parent=("solutionArn", "solution"), status=LIFECYCLE)
BATCH_INFERENCE_JOB = _kind("BatchInferenceJob", parent=("solutionVersionArn", None), status=LIFECYCLE)
BATCH_SEGMENT_JOB = _kind("BatchSegmentJob", parent=("solutionVersionArn", None), status=LIFECYCLE)
SOLUTION = _kind(
    "Solution",
    parent=("datasetGroupArn", DATASET_GROUP.kind),
    deletion=Deletion(finished_go_along=(SOLUTION_VERSION.kind, BATCH_INFERENCE_JOB.kind, BATCH_SEGMENT_JOB.kind)),
)
CAMPAIGN = _kind("Campaign", parent=("solutionArn", SOLUTION.kind), status=LIFECYCLE, deletion=Deletion(guarded=False))
# ListFilters answers its summaries under "Filters" (capitalised, unlike every other List).
FILTER = _kind(
    "Filter", parent=("datasetGroupArn", DATASET_GROUP.kind), deletion=Deletion(guarded=False), list_key="Filters"
)
METRIC_ATTRIBUTION = _kind(
    "MetricAttribution",
    parent=("datasetGroupArn", DATASET_GROUP.kind),
    status=LIFECYCLE,
    deletion=Deletion(guarded=False, within=_forget_totals),
    list_fields=("name", "metricAttributionArn", "status", "creationDateTime", "lastUpdatedDateTime", "failureReason"),
)
EVENT_TRACKER = _kind(
    "EventTracker",
    parent=("datasetGroupArn", DATASET_GROUP.kind),
    deletion=Deletion(guarded=False),
    list_fields=("name", "eventTrackerArn", "status", "creationDateTime", "lastUpdatedDateTime"),
)
# Delete is recommenders.py's own: their internal trainings (not a kind of this table) go along.
RECOMMENDER = _kind("Recommender", parent=("datasetGroupArn", DATASET_GROUP.kind), status=LIFECYCLE)
RECOMMENDER_TRAINING = "recommender-training"  # a recommender's internal trainings (children; never listed)

KINDS: dict[str, ResourceKind] = {
    k.kind: k
    for k in (
        DATASET_GROUP,
        SCHEMA,
        DATASET,
        DATASET_IMPORT_JOB,
        DATASET_EXPORT_JOB,
        DATA_DELETION_JOB,
        SOLUTION,
        SOLUTION_VERSION,
        CAMPAIGN,
        FILTER,
        METRIC_ATTRIBUTION,
        EVENT_TRACKER,
        BATCH_INFERENCE_JOB,
        BATCH_SEGMENT_JOB,
        RECOMMENDER,
    )
}


def queue_job(
    call: Call, kind: ResourceKind, parent: Resource, members: dict[str, Any], guard: InsertGuard | None = None
) -> str:
    """Store a new job of ``kind`` (named by the request's jobName) under ``parent`` and queue it; its ARN.

    Its document is the name, ARN and parent ARN, ``members``, and the request's roleArn; ``guard`` sees the
    parent's other jobs of the kind and may refuse (see ``insert_resource``).
    """
    p = call.params
    arn = kind.arn(call, p["jobName"])
    assert kind.parent_key is not None
    doc = {"jobName": p["jobName"], kind.arn_key: arn, kind.parent_key: parent.arn, **members}
    doc["roleArn"] = p.get("roleArn")
    res = Resource(arn, kind.kind, p["jobName"], parent.arn, kind.status.initial, doc)
    insert_resource(call, res, kind.label, job_kind=kind.kind, guard=guard)
    return arn


# What a Delete does after the rows are gone (files, caches, other resources' fields): the
# deleted resource and the dependents deleted with it. Wired by control/operations.py.
AfterDelete = Callable[[Call, Resource, list[Resource]], None]


def describe_operation(kind: ResourceKind) -> Operation:
    def describe_one(call: Call) -> dict[str, Any]:
        return {kind.describe_key: describe(kind.get(call, call.params[kind.arn_key]))}

    return describe_one


def list_operation(kind: ResourceKind) -> Operation:
    def list_page(call: Call) -> dict[str, Any]:
        parent = call.params.get(kind.parent_key) if kind.parent_key else None
        if parent and kind.parent_kind:
            KINDS[kind.parent_kind].get(call, parent)
        items, token = paginate(call, kind.kind, parent=parent)
        if kind.list_fields is not None:
            items = [{key: item.get(key) for key in kind.list_fields} for item in items]
        return {kind.list_key: items, "nextToken": token}

    return list_page


def _blocks(deletion: Deletion) -> Callable[[Resource], bool]:
    def blocks(dependent: Resource) -> bool:
        return dependent.kind not in deletion.finished_go_along or KINDS[dependent.kind].unfinished(dependent)

    return blocks


def delete_operation(kind: ResourceKind, deletion: Deletion, after: AfterDelete | None) -> Operation:
    def delete_one(call: Call) -> dict[str, Any]:
        res = kind.get(call, call.params[kind.arn_key])
        busy = deletion.busy(call, res) if deletion.busy is not None else []
        if busy:
            raise ResourceInUseException(
                f"{kind.label} {res.arn} is in use by unfinished work: {', '.join(sorted(busy)[:5])}; "
                "retry once it is done."
            )
        also = partial(deletion.within, call, res) if deletion.within is not None else None
        if deletion.guarded:
            gone = delete_resource(call, res, kind.label, _blocks(deletion), deletion.referenced_by, also)
        else:
            gone = call.store.delete(res.arn, also=also)
        if after is not None:
            after(call, res, gone)
        return {}

    return delete_one


def generic_operations(after_delete: dict[str, AfterDelete]) -> dict[str, Operation]:
    """Describe, List and (where the kind has one) Delete for every kind of the table."""
    operations: dict[str, Operation] = {}
    for kind in KINDS.values():
        operations[f"Describe{kind.name}"] = describe_operation(kind)
        operations[f"List{kind.name}s"] = list_operation(kind)
        if kind.deletion is not None:
            operations[f"Delete{kind.name}"] = delete_operation(kind, kind.deletion, after_delete.get(kind.kind))
    return operations
