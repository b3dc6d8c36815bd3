"""What the console's browser suites share: Debian's Chromium under Playwright, signing in through the form,
the browser console's errors, screenshots, and a plain HTTP session for the requests a browser would not send."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from helpers import skip_or_fail
from server_harness import ACCESS_KEY, SECRET_KEY, Server

CHROMIUM = Path("/usr/bin/chromium")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Debian's package: .ci/run installs it) driven by Playwright."""
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


class Tab:
    """A browser page that records every console error and uncaught exception it sees."""

    def __init__(self, browser: Any, server: Server, shots: Path, **context: Any) -> None:
        self.context = browser.new_context(base_url=server.url, **context)
        self.page = self.context.new_page()
        self.shots = shots
        self.errors: list[str] = []
        self.page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on(
            "response", lambda r: r.status >= 400 and self.errors.append(f"{r.status} {r.request.method} {r.url}")
        )

    def sign_in(self, secret: str = SECRET_KEY, start: str = "/console/login") -> Any:
        """Open ``start`` (a console page sends the browser to sign in first), fill in the sign-in form;
        the response to its POST."""
        self.page.goto(start)
        self.page.fill("#access_key_id", ACCESS_KEY)
        self.page.fill("#secret_access_key", secret)
        with self.page.expect_response(lambda r: r.request.method == "POST") as answer:
            self.page.click("button[type=submit]")
        self.page.wait_for_load_state()
        return answer.value

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@contextmanager
def open_tab(browser: Any, server: Server, shots: Path, signed_in: bool = False, **context: Any) -> Iterator[Tab]:
    """A tab (signed in when asked); on leaving, the test fails if the browser logged a console error."""
    tab = Tab(browser, server, shots, **context)
    if signed_in:
        tab.sign_in()
    yield tab
    tab.close()
    assert not tab.errors, tab.errors


def signed_in_session(server: Server) -> tuple[requests.Session, str]:
    """A plain HTTP session signed in through the form, and its CSRF token."""
    session = requests.Session()
    form = session.get(server.url + "/console/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    fields = {"csrf": token, "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY, "next": "/console/"}
    assert session.post(server.url + "/console/login", data=fields, allow_redirects=False).status_code == 303
    home = session.get(server.url + "/console/").text
    return session, re.search(r'name="csrf-token" content="([^"]+)"', home).group(1)
