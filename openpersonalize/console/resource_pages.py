"""Filters, event trackers and deletion: a filter's highlighted expression (and where a bad one breaks),
creating one; a tracker's live tail of events and events-per-second; deleting any resource after confirmation."""

from __future__ import annotations

import time
from typing import Any

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..control.kinds import EVENT_TRACKER, FILTER
from ..errors import InvalidInputException, ServiceError
from ..filters import FilterSyntaxError, parse_filter
from .highlight import highlight
from .service import region_of
from .web import Console, PageRequest, Rendered, arn_url

TAIL_EVENTS = 50
RATE_EVENTS = 1000  # the newest events the events-per-second line counts (a bounded read however busy)
RATE_SECONDS = 60


def filter_page(console: Console, page: PageRequest) -> Rendered:
    described = console.service.describe(FILTER, page.path["arn"])
    expression = described.get("filterExpression", "")
    return Rendered("filter.html", {"filter": described, "highlighted": highlight(expression)})


def check_expression(expression: str) -> dict[str, Any]:
    """The parser's verdict: highlighted text, and the error with its position when it does not parse."""
    if not expression.strip():
        return {"highlighted": None, "error": None}
    try:
        parse_filter(expression)
    except FilterSyntaxError as exc:
        return {"highlighted": highlight(expression, exc.position), "error": exc}
    return {"highlighted": highlight(expression), "error": None}


def filter_check(console: Console, page: PageRequest) -> Rendered:
    """The live check under the create-filter form (htmx posts the expression as it is typed)."""
    return Rendered("filter_check.html", check_expression(page.form.get("filterExpression", "")))


def create_filter(console: Console, page: PageRequest) -> Response | Rendered:
    """CreateFilter; a bad expression comes back to the form with the parser's position marked (a page with the
    reason, as a refused sign-in does)."""
    group = page.form.get("datasetGroupArn", "")
    expression = page.form.get("filterExpression", "")
    verdict = check_expression(expression)
    if verdict["error"] is not None:
        return Rendered("filter_new.html", {**verdict, "form": page.form})
    try:
        arn = console.service.call(
            "CreateFilter",
            region_of(group),
            name=page.form.get("name", "").strip(),
            datasetGroupArn=group,
            filterExpression=expression,
        )["filterArn"]
    except ServiceError as exc:  # a name taken, a group gone: the reason beside the form as typed, as for a bad one
        return Rendered("filter_new.html", {**verdict, "form": page.form, "message": f"{exc.code}: {exc.message}"})
    return RedirectResponse(arn_url(arn), 303)


def tracker_page(console: Console, page: PageRequest) -> Rendered:
    """An event tracker with its live tail (the tail fragment reloads every second through htmx)."""
    tracker = console.service.describe(EVENT_TRACKER, page.path["arn"])
    values = {"tracker": tracker, **_tail(console, tracker["datasetGroupArn"])}
    return Rendered("tracker_tail.html" if page.partial else "tracker.html", values)


def _tail(console: Console, group_arn: str) -> dict[str, Any]:
    """The newest events, newest first, and events received per second over the last minute (of the newest
    ``RATE_EVENTS``)."""
    events = console.service.control.events.newest_events(group_arn, RATE_EVENTS)
    now = time.time()
    per_second = [0] * RATE_SECONDS
    for event in events:
        age = int(now - event.received_at)
        if 0 <= age < RATE_SECONDS:
            per_second[RATE_SECONDS - 1 - age] += 1
    return {"events": events[:TAIL_EVENTS], "per_second": per_second, "rate_max": max(per_second) or 1}


def delete_page(console: Console, page: PageRequest) -> Response | Rendered:
    """GET: what is about to go, and a confirm button; POST (with CSRF): the Delete* operation."""
    arn = page.query.get("arn") or page.form.get("arn", "")
    kind = console.service.kind_of(arn)
    if kind is None or kind.deletion is None:
        raise InvalidInputException(f"arn: {arn!r} does not name a resource the console can delete.")
    if not page.form:
        described = console.service.describe(kind, arn)
        return Rendered("delete.html", {"arn": arn, "label": kind.label, "resource": described})
    console.service.call(f"Delete{kind.name}", region_of(arn), **{kind.arn_key: arn})
    return RedirectResponse("/console/", 303)


def routes(console: Console) -> list[Route]:
    return [
        Route("/console/filters", console.page(create_filter), methods=["POST"]),
        Route("/console/filters/check", console.page(filter_check), methods=["POST"]),
        Route("/console/filter/{arn:path}", console.page(filter_page)),
        Route("/console/event-tracker/{arn:path}", console.page(tracker_page)),
        Route("/console/delete", console.page(delete_page), methods=["GET", "POST"]),
    ]
