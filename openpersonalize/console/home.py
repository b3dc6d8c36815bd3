"""The home page: how many of each resource, the jobs running now with their progress, recent failures."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from ..control.kinds import KINDS, ResourceKind
from .web import Console, PageRequest, Rendered

RUNNING = ("CREATE PENDING", "CREATE IN_PROGRESS", "PENDING", "IN_PROGRESS", "CREATE STOPPING")
FAILED = ("CREATE FAILED", "FAILED")
RECENT_FAILURES = 10


def _counted(kind: ResourceKind) -> bool:
    return kind.kind != "schema"


def home_page(console: Console, page: PageRequest) -> Rendered:
    """Counts per kind, the unfinished resources (with their progress where a job reports it), the newest failures.

    Read from the metadata store in one query per kind (the rows Describe/List answer from): a server with
    ten thousand resources of a kind must not page through them all to count them.
    """
    counts: list[tuple[str, int]] = []
    running: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for kind in KINDS.values():
        if not _counted(kind):
            continue
        rows = console.service.control.store.list(kind.kind)
        counts.append((kind.label + "s", len(rows)))
        for res in rows:
            entry = {
                "kind": kind.label,
                "arn": res.arn,
                "name": res.name,
                "status": res.status,
                "created": res.created,
                "updated": res.updated,
                "reason": res.doc.get("failureReason"),
            }
            if res.status in RUNNING:
                running.append({**entry, "progress": res.doc.get("_progress")})
            elif res.status in FAILED:
                failures.append(entry)
    failures.sort(key=lambda r: r["updated"], reverse=True)
    template = "home_running.html" if page.partial else "home.html"
    return Rendered(template, {"counts": counts, "running": running, "failures": failures[:RECENT_FAILURES]})


def routes(console: Console) -> list[Route]:
    return [Route("/console/", console.page(home_page)), Route("/console/running", console.page(home_page))]
