"""The console's ASGI app: sign-in and sign-out, static files, and every page's route under ``/console``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from importlib import resources
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..control.base import Control
from ..runtime.service import RuntimeService
from . import campaign_pages, data_pages, home, job_pages, resource_pages, solution_pages
from .auth import COOKIE_PATH, LOGIN_COOKIE, LOGIN_SECONDS, SESSION_COOKIE, ConsoleAuth, cookie_name
from .headers import SecurityHeaders
from .service import ConsoleService
from .web import Console, FormTooLarge, PageRequest, Rendered, read_form, request_cookie


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if target and target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/"


def _login_routes(console: Console) -> list[Route]:
    auth = console.auth

    def login_page(request: Request, error: str | None = None) -> Response:
        """The sign-in form (a refused sign-in comes back to it with the reason, as a page, not an error status:
        browsers log error statuses as console errors and htmx would not show it)."""
        started = time.perf_counter()
        nonce = request_cookie(request, LOGIN_COOKIE) or auth.login_nonce()
        values = {
            "login_csrf": auth.login_token(nonce),
            "next": _safe_next(request.query_params.get("next")),
            "signed_out": request.query_params.get("signed_out") == "1",
        }
        response = console.render(Rendered("login.html", {**values, "error": error}), {}, started)
        _set_cookie(response, request, LOGIN_COOKIE, nonce, LOGIN_SECONDS)
        return response

    async def login(request: Request) -> Response:
        if request.method in ("GET", "HEAD"):
            if console.session_of(request) is not None:
                return RedirectResponse(_safe_next(request.query_params.get("next")), 303)
            return login_page(request)
        try:
            form = await read_form(request)
        except FormTooLarge:
            return PlainTextResponse("Form too large.", 413)
        if not auth.check_login_token(request_cookie(request, LOGIN_COOKIE), form.get("csrf")):
            return PlainTextResponse("Missing or wrong CSRF token: reload the sign-in page.", 403)
        key_id = form.get("access_key_id", "").strip()
        if not auth.check_secret(key_id, form.get("secret_access_key", "")):
            return login_page(request, "The access key id or the secret access key is wrong.")
        response = RedirectResponse(_safe_next(form.get("next")), 303)
        _set_cookie(response, request, SESSION_COOKIE, auth.issue(key_id), auth.max_age)
        _clear_cookie(response, LOGIN_COOKIE, request.url.port)
        return response

    def logout(_console: Console, page: PageRequest) -> Response:
        response = RedirectResponse("/console/login?" + urlencode({"signed_out": "1"}), 303)
        _clear_cookie(response, SESSION_COOKIE, page.port)
        return response

    def root(_request: Request) -> Response:
        """``/console`` to ``/console/`` by a relative redirect (Starlette's own would name the request's Host)."""
        return RedirectResponse("/console/", 307)

    return [
        Route("/console", root),
        Route("/console/login", login, methods=["GET", "POST"]),
        Route("/console/logout", console.page(logout), methods=["POST"]),
    ]


def _over_https(request: Request) -> bool:
    """Whether the browser reached us over HTTPS: directly, or through a proxy that ends TLS and says so in
    X-Forwarded-Proto (a client lying about it only gets a stricter cookie)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def _clear_cookie(response: Response, base: str, port: int | None) -> None:
    response.delete_cookie(cookie_name(base, port), path=COOKIE_PATH, httponly=True, samesite="strict")


def _set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    """An HttpOnly, SameSite=Strict cookie for the console's paths only (Secure over HTTPS)."""
    secure = _over_https(request)
    name = cookie_name(name, request.url.port)
    response.set_cookie(name, value, max_age, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure)


def console_app(control: Control, runtime: RuntimeService, credentials: Mapping[str, str]) -> Starlette:
    """The console for a server with these credentials, reading and acting through ``control`` and ``runtime``."""
    console = Console(ConsoleAuth(credentials), ConsoleService(control, runtime))
    static = resources.files("openpersonalize.console").joinpath("static")
    routes = [
        *_login_routes(console),
        *home.routes(console),
        *data_pages.routes(console),
        *solution_pages.routes(console),
        *campaign_pages.routes(console),
        *resource_pages.routes(console),
        *job_pages.routes(console),
        Mount("/console/static", StaticFiles(directory=str(static)), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
