"""The console's door: sign-in with the server's key pair in a real browser, cookies it must refuse, CSRF,
and long tables paginated. A server of its own (nothing trained): these never need the demo data."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from console_browser import Tab, open_tab, signed_in_session
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from helpers import own_server
from openpersonalize.console.auth import SESSION_COOKIE, SESSION_SECONDS, cookie_name, session_serializer
from server_harness import ACCESS_KEY, SECRET_KEY, unique


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with own_server(tmp_path_factory.mktemp("console-auth")) as srv:
        yield srv


@pytest.fixture
def tab(browser, server, tmp_path: Path):
    with open_tab(browser, server, tmp_path) as t:
        yield t


def _home_status(server, cookie: str | None, **headers: str) -> int:
    cookies = {cookie_name(SESSION_COOKIE, server.port): cookie} if cookie else {}
    return requests.get(server.url + "/console/", cookies=cookies, headers=headers, allow_redirects=False).status_code


def test_sign_in_then_out(tab: Tab, server) -> None:
    tab.page.goto("/console/dataset-groups")
    assert tab.page.url.endswith("/console/login?next=%2Fconsole%2Fdataset-groups")
    tab.shot("login")
    assert tab.sign_in(start="/console/dataset-groups").status == 303
    assert tab.page.url.endswith("/console/dataset-groups")
    cookie = next(c for c in tab.context.cookies() if c["name"] == cookie_name(SESSION_COOKIE, server.port))
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert 0 < cookie["expires"] - time.time() <= SESSION_SECONDS
    tab.page.goto("/console/")
    assert tab.page.locator("h1").inner_text() == "Overview"
    tab.shot("home")
    tab.page.click("text=Sign out")
    tab.page.wait_for_url("**/console/login**")
    tab.page.goto("/console/")
    assert "/console/login" in tab.page.url


def test_a_wrong_secret_is_refused(tab: Tab, server) -> None:
    tab.sign_in(secret=SECRET_KEY + "x")
    assert "wrong" in tab.page.locator("[role=alert]").inner_text()
    assert not [c for c in tab.context.cookies() if c["name"] == cookie_name(SESSION_COOKIE, server.port)]
    tab.shot("login-refused")
    tab.page.goto("/console/")
    assert "/console/login" in tab.page.url


def test_cookies_from_another_secret_or_expired_are_refused(server) -> None:
    payload = {"k": ACCESS_KEY, "n": "nonce"}
    assert _home_status(server, session_serializer(SECRET_KEY).dumps(payload)) == 200  # the genuine article
    assert _home_status(server, session_serializer("another-secret").dumps(payload)) == 303
    real = session_serializer(SECRET_KEY)

    class Backdated(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - SESSION_SECONDS - 60

    expired = URLSafeTimedSerializer(real.secret_key, salt=real.salt, signer=Backdated).dumps(payload)
    assert _home_status(server, expired) == 303
    assert _home_status(server, expired, **{"HX-Request": "true"}) == 401
    assert _home_status(server, "forged." + real.dumps(payload).split(".", 1)[1]) == 303
    for path in ("/console/running", "/console/dataset-groups", "/console/delete?arn=x"):
        assert requests.get(server.url + path, allow_redirects=False).status_code == 303


def test_form_posts_without_the_csrf_token_are_refused(server) -> None:
    personalize = server.client("personalize")
    group = personalize.create_dataset_group(name=unique("csrf"))["datasetGroupArn"]
    session, token = signed_in_session(server)
    form = {"name": "comedy", "datasetGroupArn": group, "filterExpression": 'INCLUDE ItemID WHERE Items.GENRE IN ("x")'}
    refused = session.post(server.url + "/console/filters", data=form, allow_redirects=False)
    assert refused.status_code == 403
    wrong = session.post(server.url + "/console/filters", data={**form, "csrf": "0" * 64}, allow_redirects=False)
    assert wrong.status_code == 403
    other = signed_in_session(server)[1]  # another session's token
    assert (
        session.post(server.url + "/console/filters", data={**form, "csrf": other}, allow_redirects=False).status_code
        == 403
    )
    assert personalize.list_filters(datasetGroupArn=group)["Filters"] == []
    created = session.post(server.url + "/console/filters", data={**form, "csrf": token}, allow_redirects=False)
    assert created.status_code == 303
    assert [f["name"] for f in personalize.list_filters(datasetGroupArn=group)["Filters"]] == ["comedy"]
    sign_in = {"access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY}
    assert requests.post(server.url + "/console/login", data=sign_in, allow_redirects=False).status_code == 403


def test_a_bad_filter_expression_shows_where_it_breaks(tab: Tab, server) -> None:
    group = server.client("personalize").create_dataset_group(name=unique("expr"))["datasetGroupArn"]
    tab.sign_in()
    tab.page.goto("/console/dataset-group/" + group)
    tab.page.click("text=Create a filter")
    tab.page.fill("#filter-name", "broken")
    tab.page.fill("#filterExpression", 'INCLUDE ItemID WHERE Items.GENRE IN ("Comedy"')
    alert = tab.page.locator("#filter-check [role=alert]")
    alert.wait_for()
    assert "column" in alert.inner_text()
    assert tab.page.locator("#filter-check .bad").count() == 1
    tab.shot("filter-error")
    tab.page.click("text=Create filter")
    assert "line 1, column" in tab.page.locator("[role=alert]").first.inner_text()


def test_long_tables_are_paginated(tab: Tab, server) -> None:
    personalize = server.client("personalize")
    for _ in range(55):
        personalize.create_dataset_group(name=unique("many"))
    total = len(personalize.list_dataset_groups(maxResults=100)["datasetGroups"])
    assert 55 <= total < 100
    tab.sign_in()
    tab.page.goto("/console/dataset-groups")
    assert tab.page.locator("tbody tr").count() == 50
    tab.page.click("text=Next")
    assert tab.page.locator("tbody tr").count() == total - 50
    assert tab.page.locator("text=Next").count() == 0
    tab.shot("groups-page-2")
    tab.page.click("text=First page")
    assert tab.page.locator("tbody tr").count() == 50


def test_a_filter_is_created_then_deleted_after_confirmation(tab: Tab, server) -> None:
    personalize = server.client("personalize")
    group = personalize.create_dataset_group(name=unique("del"))["datasetGroupArn"]
    tab.sign_in()
    tab.page.goto("/console/dataset-group/" + group)
    tab.page.click("text=Create a filter")
    tab.page.fill("#filter-name", "comedies")
    tab.page.fill("#filterExpression", 'INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")')
    tab.page.locator("#filter-check", has_text="The expression parses").wait_for()
    tab.page.click("text=Create filter")
    tab.page.wait_for_url("**/console/filter/**")
    assert tab.page.locator("pre.expr .kw").all_inner_texts() == ["INCLUDE", "ItemID", "WHERE", "IN"]
    tab.shot("filter")
    tab.page.click("text=Delete filter")
    assert personalize.list_filters(datasetGroupArn=group)["Filters"] != []  # nothing goes before the confirmation
    tab.shot("delete-confirm")
    tab.page.click("button:has-text('Delete')")
    tab.page.wait_for_url("**/console/")
    assert personalize.list_filters(datasetGroupArn=group)["Filters"] == []
