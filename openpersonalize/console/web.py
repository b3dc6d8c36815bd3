"""The console's HTTP plumbing: pages behind the session, bounded form bodies, CSRF checks, rendering.

A page handler is a plain function ``(Console, PageRequest) -> Response | Rendered``; ``Console.page``
wraps it: no session -> the sign-in page and back (htmx requests: 401 saying where), a POST without this
session's CSRF token -> 403, then the handler runs in a worker thread (it reads the store) and its
template is rendered with the server time it took in a ``Server-Timing`` header.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from ..errors import ServiceError
from .auth import SESSION_COOKIE, ConsoleAuth, Session, cookie_name
from .service import ConsoleService, resource_type

MAX_FORM_BYTES = 64 * 1024
PAGE_SIZE = 50


class FormTooLarge(Exception):
    """A form body over ``MAX_FORM_BYTES``."""


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form body of at most ``MAX_FORM_BYTES`` (last value of a repeated field wins)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        raise FormTooLarge()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge()
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


@dataclass
class PageRequest:
    """What a page handler sees of its request."""

    path: Mapping[str, str]
    query: Mapping[str, str]
    form: dict[str, str]
    session: Session
    csrf: str
    partial: bool  # an htmx request: answer with the fragment only
    port: int | None  # the port the browser reached (it names the cookies: auth.cookie_name)

    def page_number(self) -> int:
        return max(whole_number(self.query.get("page")) or 1, 1)


def request_cookie(request: Request, base: str) -> str | None:
    """The value of console cookie ``base`` for the server this request reached (``auth.cookie_name``)."""
    return request.cookies.get(cookie_name(base, request.url.port))


def whole_number(text: str | None) -> int | None:
    """``text`` as a whole number when it is one in at most 18 ASCII digits, else None. (``str.isdigit`` also says
    yes to "²", and ``int`` refuses over 4300 digits: both once turned a typo in a form or link into a 500.)"""
    if text and len(text) <= 18 and text.isascii() and text.isdigit():
        return int(text)
    return None


@dataclass
class Rendered:
    """A template and its values; ``status`` for error pages."""

    template: str
    values: dict[str, Any] = field(default_factory=dict)
    status: int = 200


@dataclass(frozen=True)
class Pager:
    """One page of a long table: its rows and the links around it."""

    rows: Sequence[Any]
    number: int
    pages: int
    total: int

    @classmethod
    def of(cls, rows: Sequence[Any], number: int, size: int = PAGE_SIZE) -> Pager:
        pages = max(math.ceil(len(rows) / size), 1)
        number = min(number, pages)
        return cls(rows[(number - 1) * size : number * size], number, pages, len(rows))


def arn_url(arn: str | None) -> str:
    """A resource's bookmarkable console page: ``/console/<its ARN's resource type>/<ARN>``."""
    return f"/console/{resource_type(arn)}/{quote(arn or '', safe=':/')}"


def _iso(value: Any) -> str:
    if value in (None, ""):
        return ""
    stamp = value.timestamp() if isinstance(value, dt.datetime) else float(value)
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def time_tag(value: Any) -> Markup:
    """A <time> the browser shows in the user's locale (console.js); readable UTC without JavaScript."""
    iso = _iso(value)
    if not iso:
        return Markup("")
    return Markup('<time datetime="{0}">{1}</time>').format(iso, iso.replace("T", " ").replace("Z", " UTC"))


def duration(seconds: Any) -> str:
    """Seconds as "1 h 02 min", "3 min 05 s" or "12.3 s"."""
    if seconds in (None, ""):
        return ""
    s = float(seconds)
    if s >= 3600:
        return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"
    if s >= 60:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{s:.1f} s"


FINISHED = ("ACTIVE", "CREATE FAILED", "CREATE STOPPED", "COMPLETED", "FAILED")


def finished_duration(resource: Mapping[str, Any]) -> float | None:
    """Seconds from creation to the last update of a finished job (None while it runs)."""
    if resource.get("status") not in FINISHED:
        return None
    created, updated = resource.get("creationDateTime"), resource.get("lastUpdatedDateTime")
    return float(updated) - float(created) if created and updated else None


def short_arn(arn: str | None) -> str:
    """The resource part of an ARN (kind/name)."""
    return (arn or "").split(":", 5)[-1]


def _environment() -> Environment:
    folder = resources.files("openpersonalize.console").joinpath("templates")
    env = Environment(loader=FileSystemLoader(str(folder)), autoescape=select_autoescape(["html"]))
    env.filters.update(time=time_tag, duration=duration, short_arn=short_arn, urlencode=urlencode)
    env.globals.update(arn_url=arn_url)
    return env


def _return_to(request: Request) -> str:
    """The page to come back to once signed in: the one asked for, query included (a shared Try-it link is its
    query); for a form or an htmx request, the page it was sent from (the sign-in page keeps console paths only)."""
    if request.method in ("GET", "HEAD") and request.headers.get("hx-request") != "true":
        url = request.url
    else:
        url = URL(request.headers.get("hx-current-url") or request.headers.get("referer") or "/console/")
    return url.path + ("?" + url.query if url.query else "")


Handler = Callable[["Console", PageRequest], "Response | Rendered"]


class Console:
    """The console's shared parts: sign-in, the service layer, templates."""

    def __init__(self, auth: ConsoleAuth, service: ConsoleService) -> None:
        self.auth = auth
        self.service = service
        self.templates = _environment()

    def render(self, rendered: Rendered, extra: Mapping[str, Any], started: float) -> HTMLResponse:
        html = self.templates.get_template(rendered.template).render({**extra, **rendered.values})
        ms = (time.perf_counter() - started) * 1000
        return HTMLResponse(html, rendered.status, headers={"Server-Timing": f"app;dur={ms:.1f}"})

    def session_of(self, request: Request) -> Session | None:
        return self.auth.session(request_cookie(request, SESSION_COOKIE))

    def page(self, handler: Handler) -> Callable[[Request], Any]:
        """An endpoint serving ``handler`` to signed-in browsers only (see the module docstring)."""

        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            session = self.session_of(request)
            partial = request.headers.get("hx-request") == "true"
            if session is None:
                login = "/console/login?" + urlencode({"next": _return_to(request)})
                if partial:
                    return PlainTextResponse("Sign in first.", 401, headers={"HX-Redirect": login})
                return RedirectResponse(login, 303)
            form: dict[str, str] = {}
            csrf = self.auth.csrf_token(session)
            if request.method == "POST":
                try:
                    form = await read_form(request)
                except FormTooLarge:
                    return PlainTextResponse("Form too large.", 413)
                token = form.get("csrf") or request.headers.get("x-csrf-token")
                if not self.auth.check_csrf(session, token):
                    return PlainTextResponse("Missing or wrong CSRF token: reload the page and try again.", 403)
            query = dict(request.query_params)
            page = PageRequest(dict(request.path_params), query, form, session, csrf, partial, request.url.port)
            try:
                result = await run_in_threadpool(handler, self, page)
            except ServiceError as exc:
                result = Rendered("error.html", {"code": exc.code, "message": exc.message}, exc.status)
            if isinstance(result, Response):
                return result
            return self.render(result, {"csrf": csrf, "path": request.url.path, "partial": partial}, started)

        return endpoint
