"""What every control-plane operation shares: settings, ARNs, paging, lookups, statuses."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .. import nesting
from ..errors import (
    InvalidInputException,
    InvalidNextTokenException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from ..store.attribution import AttributionStore
from ..store.events import EventStore
from ..store.local_files import Roots
from ..store.metadata import AlreadyExists, Connection, InsertGuard, MetadataStore, ParentGone, Resource
from ..store.objects import ObjectStore
from .tag_rules import checked_tags

ACTIVE = "ACTIVE"
CREATE_PENDING = "CREATE PENDING"
CREATE_IN_PROGRESS = "CREATE IN_PROGRESS"
CREATE_FAILED = "CREATE FAILED"
CREATE_STOPPING = "CREATE STOPPING"
CREATE_STOPPED = "CREATE STOPPED"
UNFINISHED = (CREATE_PENDING, CREATE_IN_PROGRESS, CREATE_STOPPING)
STILL_RUNNING = (*UNFINISHED, "PENDING", "IN_PROGRESS")  # with a data deletion job's own statuses


@dataclass
class Settings:
    """Server-wide configuration the control plane needs."""

    data_dir: Path
    account_id: str = "000000000000"
    allowed_paths: list[Path] = field(default_factory=list)
    denied_paths: list[Path] = field(default_factory=list)  # the server's own state, even inside allowed_paths
    s3_endpoint_url: str | None = None
    object_store: str | None = None  # --object-store: s3://bucket/prefix or a directory (default DATA_DIR/objects)

    @property
    def roots(self) -> Roots:
        """Where jobs may read and write local files."""
        return Roots(tuple(self.allowed_paths), tuple(self.denied_paths))


@dataclass
class Control:
    """Shared state of the control plane: settings, metadata store, the process's one event store, hooks.

    ``wake_jobs`` tells the job runner a job was queued; ``forget_tracking_id`` tells the events
    service a tracker was deleted (the server assembly wires both). ``clock`` is what automatic
    training schedules by (epoch seconds; a test advances its own).
    """

    settings: Settings
    store: MetadataStore
    events: EventStore
    wake_jobs: Callable[[], None] = lambda: None
    forget_tracking_id: Callable[[str], None] = lambda _tracking_id: None
    clock: Callable[[], float] = time.time

    @cached_property
    def objects(self) -> ObjectStore:
        """Where dataset snapshots and models live (``--object-store``)."""
        settings = self.settings
        return ObjectStore.for_node(settings.object_store, settings.data_dir, settings.s3_endpoint_url)

    @cached_property
    def attribution(self) -> AttributionStore:
        """Metric attributions' marks and totals, and the sources of recommendationIds (one per process)."""
        return AttributionStore(self.store)


@dataclass(frozen=True)
class Call:
    """One request as an operation sees it."""

    control: Control
    region: str
    params: dict[str, Any]

    @property
    def store(self) -> MetadataStore:
        return self.control.store

    def arn(self, kind: str, name: str) -> str:
        """Personalize's ARN format: arn:aws:personalize:REGION:ACCOUNT:KIND/NAME."""
        return f"arn:aws:personalize:{self.region}:{self.control.settings.account_id}:{kind}/{name}"


Operation = Callable[[Call], dict[str, Any]]


def now() -> float:
    return time.time()


def insert_resource(
    call: Call,
    res: Resource,
    label: str,
    job_kind: str | None = None,
    requires: tuple[str, ...] = (),
    guard: InsertGuard | None = None,
) -> None:
    """Store a new resource with the request's tags; duplicate ARN -> ResourceAlreadyExistsException.

    Its parent and the ``requires`` ARNs are checked in the insert's own transaction, so a
    concurrent delete of one of them ends this call with ResourceNotFoundException, never an orphan;
    ``guard`` checks the new resource's siblings there too, under an exclusive lock of the parent.
    """
    tags = checked_tags(call.params.get("tags"))
    try:
        call.store.insert(res, job_kind=job_kind, tag_values=tags, requires=requires, guard=guard)
    except AlreadyExists:
        raise ResourceAlreadyExistsException(f"{label} {res.arn} already exists.") from None
    except ParentGone as gone:
        raise ResourceNotFoundException(f"{gone.arn} does not exist (it was deleted meanwhile).") from None
    if job_kind:
        call.control.wake_jobs()


def delete_resource(
    call: Call,
    res: Resource,
    label: str,
    blocks: Callable[[Resource], bool] = lambda _: True,
    referenced_by: tuple[str, str] | None = None,
    also: Callable[[Connection], None] | None = None,
) -> list[Resource]:
    """Delete ``res`` in one transaction with its children (and ``referenced_by`` users, see the store), and
    ``also``'s writes.

    A dependent for which ``blocks`` holds refuses the delete (ResourceInUseException); the others
    are deleted with it and returned, so the caller can remove their files.
    """

    def guard(dependents: list[Resource]) -> list[Resource]:
        blocking = [d for d in dependents if blocks(d)]
        # name the outermost: a blocking dataset's import jobs, a recommender's internal trainings go with it
        above = {d.arn for d in blocking}
        refuse_if_in_use(res, [d for d in blocking if d.parent not in above], label)
        return [d for d in dependents if not blocks(d)]

    return call.store.delete(res.arn, guard, referenced_by, also)


def refuse_if_in_use(res: Resource, dependents: list[Resource], label: str) -> None:
    """ResourceInUseException naming ``dependents``: to delete them, or, when all are still in progress (a
    training version, a running job: nothing deletes those), to wait for them."""
    if dependents:
        names = ", ".join(sorted(d.arn for d in dependents)[:5])
        running = all(d.status in STILL_RUNNING for d in dependents)
        advice = "Retry once they are done." if running else "Delete them first."
        raise ResourceInUseException(f"{label} {res.arn} is in use by: {names}. {advice}")


def require_active(res: Resource, label: str) -> None:
    if res.status != ACTIVE:
        raise ResourceInUseException(f"{label} {res.arn} is not ACTIVE (status: {res.status}).")


def describe(res: Resource) -> dict[str, Any]:
    """The stored document plus the timestamps and status every description carries."""
    return {**res.doc, "status": res.status, "creationDateTime": res.created, "lastUpdatedDateTime": res.updated}


def paginate(
    call: Call, kind: str, parent: str | None = None, where: Callable[[Resource], bool] | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a kind's resources (newest first), with an opaque nextToken."""
    items = call.store.list(kind, parent=parent)
    if where is not None:
        items = [r for r in items if where(r)]
    page, token = paginate_items(call, items, kind)
    return [describe(r) for r in page], token


def paginate_items(call: Call, items: list[Any], kind: str) -> tuple[list[Any], str | None]:
    """Slice ``items`` by the request's nextToken/maxResults; the token is bound to ``kind``."""
    offset = _decode_token(call.params.get("nextToken"), kind)
    limit = call.params.get("maxResults") or 100
    more = offset + limit < len(items)
    return items[offset : offset + limit], (_encode_token(offset + limit, kind) if more else None)


def _encode_token(offset: int, kind: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "k": kind}).encode()).decode()


def _decode_token(token: str | None, kind: str) -> int:
    if not token:
        return 0
    try:
        data = nesting.loads(base64.urlsafe_b64decode(token.encode()))  # a forged token may nest deep
        if data["k"] == kind and isinstance(data["o"], int) and data["o"] >= 0:
            return data["o"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        pass
    raise InvalidNextTokenException("The nextToken is not valid.")


def reject(message: str) -> InvalidInputException:
    return InvalidInputException(message)
