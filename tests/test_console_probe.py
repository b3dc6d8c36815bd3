"""The console probed as an attacker and a careless user would: framing, sniffing and caching headers, hostile
names, events and item metadata rendered as text (a real browser sees no script run), numbers no form checks,
HEAD requests, a Host header the server does not own, and a shared Try-it link opened before signing in."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from console_browser import Tab, open_tab, signed_in_session

from helpers import avro_schema, deploy, import_dataset, own_server, train
from openpersonalize.console.auth import SESSION_COOKIE, cookie_name
from openpersonalize.console.web import arn_url
from server_harness import ACCESS_KEY, SECRET_KEY, Server, unique, wait_status

HOSTILE = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>"
ODD_NUMBERS = ("²", "9" * 5000)  # str.isdigit() says yes to both; int() refuses both


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with own_server(tmp_path_factory.mktemp("console-probe")) as srv:
        yield srv


@pytest.fixture(scope="module")
def hostile(server) -> dict[str, str]:
    """A group whose items' titles and event types are HTML, an ACTIVE popularity campaign on it, a filter whose
    string literal closes the <pre> it is shown in, an import that failed on a path full of markup, and a tracker
    that received an event made of markup."""
    personalize = server.client("personalize")
    group = personalize.create_dataset_group(name=unique("hostile"))["datasetGroupArn"]
    items = [f"i{n}" for n in range(30)]
    csv_title = HOSTILE.replace('"', '""')
    (server.work / "items.csv").write_text(
        "ITEM_ID,TITLE\n" + "".join(f'{item},"{csv_title} {item}"\n' for item in items)
    )
    rows = [
        f"u{u},{items[(u * 7 + k) % 30]},{1_700_000_000 + u * 100 + k},<b>click</b>\n"
        for u in range(90)
        for k in range(12)
    ]
    (server.work / "interactions.csv").write_text("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n" + "".join(rows))
    fields = [
        {"name": n, "type": "long" if n == "TIMESTAMP" else "string"} for n in ("USER_ID", "ITEM_ID", "TIMESTAMP")
    ]
    interactions = import_dataset(
        personalize,
        group,
        "INTERACTIONS",
        avro_schema("Interactions", [*fields, {"name": "EVENT_TYPE", "type": "string"}]),
        str(server.work / "interactions.csv"),
    )
    title = {"name": "TITLE", "type": "string"}
    item_fields = [{"name": "ITEM_ID", "type": "string"}, title]
    import_dataset(personalize, group, "ITEMS", avro_schema("Items", item_fields), str(server.work / "items.csv"))
    failed = personalize.create_dataset_import_job(
        jobName=unique("bad"),
        datasetArn=interactions,
        dataSource={"dataLocation": str(server.work / "<script>alert(3)</script>.csv")},
    )["datasetImportJobArn"]
    assert (
        wait_status(personalize.describe_dataset_import_job, "datasetImportJob", datasetImportJobArn=failed)["status"]
        == "CREATE FAILED"
    )
    expression = 'EXCLUDE ItemID WHERE Items.TITLE IN ("</pre><script>alert(4)</script>")'
    filt = personalize.create_filter(name=unique("xss"), datasetGroupArn=group, filterExpression=expression)
    version = train(personalize, group, ["aws-popularity-count"])["aws-popularity-count"]
    config = {"enableMetadataWithRecommendations": True}
    campaign = deploy(personalize, {"pop": version}, campaignConfig=config)["pop"]
    tracker = personalize.create_event_tracker(name=unique("xss"), datasetGroupArn=group)
    wait_status(personalize.describe_event_tracker, "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
    server.client("personalize-events").put_events(
        trackingId=tracker["trackingId"],
        userId=HOSTILE,
        sessionId=HOSTILE,
        eventList=[{"eventType": HOSTILE, "itemId": HOSTILE, "eventId": HOSTILE, "sentAt": 1_700_000_000}],
    )
    return {
        "group": group,
        "dataset": interactions,
        "failed": failed,
        "filter": filt["filterArn"],
        "campaign": campaign,
        "tracker": tracker["eventTrackerArn"],
    }


@pytest.fixture
def tab(browser, server, tmp_path: Path):
    with open_tab(browser, server, tmp_path, signed_in=True) as t:
        yield t


def _get(server, path: str, session: requests.Session | None = None, **kwargs) -> requests.Response:
    return (session or requests).get(server.url + path, allow_redirects=False, **kwargs)


def test_no_console_answer_may_be_framed_or_sniffed_and_pages_are_not_cached(server, hostile) -> None:
    session, _ = signed_in_session(server)
    answers = {
        "sign-in page": _get(server, "/console/login"),
        "sign-in redirect": _get(server, "/console/"),
        "home": _get(server, "/console/", session),
        "group": _get(server, arn_url(hostile["group"]), session),
        "error page": _get(server, "/console/dataset-group/nonsense", session),
        "not found": _get(server, "/console/no-such-page", session),
        "static": _get(server, "/console/static/console.js"),
    }
    assert [answers[name].status_code for name in answers] == [200, 303, 200, 200, 400, 404, 200]
    for name, answer in answers.items():
        headers = answer.headers
        assert headers.get("x-frame-options") == "DENY", name
        assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), name
        assert "script-src 'self'" in headers["content-security-policy"], name
        assert headers.get("x-content-type-options") == "nosniff", name
        assert headers.get("referrer-policy") == "same-origin", name
        if name != "static":  # what a page shows must not stay in a cache after signing out
            assert "no-store" in headers.get("cache-control", ""), name


@contextmanager
def attacker_site(html: str) -> Iterator[str]:
    """Another web server on this machine (same site as the console: another port of 127.0.0.1, so the console's
    SameSite=Strict cookie goes along with its frames) serving one page; its URL."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(html.encode())

        def log_message(self, *args: object) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_console_page_in_another_sites_frame_stays_empty(browser, server, hostile, tmp_path: Path) -> None:
    """Clickjacking: a page of another app on the same host frames the signed-in delete confirmation under a decoy
    button. The browser must refuse to render it."""
    delete = server.url + "/console/delete?" + urlencode({"arn": hostile["filter"]})
    tab = Tab(browser, server, tmp_path)
    try:
        tab.sign_in()
        with attacker_site(f'<iframe name="victim" src="{delete}" width="800" height="600"></iframe>') as url:
            tab.page.goto(url)
            frame = tab.page.frame(name="victim")
            frame.wait_for_load_state()
            assert frame.locator("button.danger").count() == 0, "the delete confirmation rendered in another's frame"
    finally:
        tab.close()


def test_hostile_names_events_and_metadata_are_shown_as_text(server, hostile) -> None:
    session, csrf = signed_in_session(server)
    try_it = arn_url(hostile["campaign"]) + "?" + urlencode({"try": "1", "userId": HOSTILE, "numResults": "5"})
    pages = {
        "home": "/console/",
        "group": arn_url(hostile["group"]),
        "dataset": arn_url(hostile["dataset"]),
        "failed import": arn_url(hostile["failed"]),
        "filter": arn_url(hostile["filter"]),
        "tracker": arn_url(hostile["tracker"]),
        "try it": try_it,
        "delete": "/console/delete?" + urlencode({"arn": hostile["filter"]}),
    }
    for name, path in pages.items():
        answer = _get(server, path, session)
        assert answer.status_code == 200, (name, answer.text[-300:])
        assert not re.search(r"<script>alert|<img src=x|<b>click|</pre><script", answer.text), name
    assert "&lt;script&gt;alert(1)" in _get(server, try_it, session).text  # the titles are there, as text
    assert "&lt;b&gt;click" in _get(server, arn_url(hostile["dataset"]), session).text
    check = session.post(
        server.url + "/console/filters/check", data={"csrf": csrf, "filterExpression": 'INCLUDE "' + HOSTILE}
    )
    assert check.status_code == 200 and "<script>" not in check.text and "&lt;script&gt;" in check.text


def test_no_script_of_a_hostile_name_runs_in_a_browser(tab: Tab, hostile) -> None:
    """Every page with attacker-chosen text, in Chromium under the console's CSP: no dialog opens, no console error
    (the CSP refuses nothing the console itself needs: htmx, uPlot, console.js)."""
    dialogs: list[str] = []
    tab.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try_it = arn_url(hostile["campaign"]) + "?" + urlencode({"try": "1", "userId": "u1", "numResults": "5"})
    tab.page.goto(arn_url(hostile["dataset"]))
    tab.page.locator(".chart canvas").first.wait_for()  # uPlot drew under the CSP
    for path in ("/console/", arn_url(hostile["group"]), arn_url(hostile["failed"])):
        tab.page.goto(path)
    tab.page.goto(arn_url(hostile["tracker"]))
    tab.page.wait_for_function("document.querySelector('#events') && htmx")
    tab.page.goto(try_it)
    assert HOSTILE in tab.page.locator("#results .title").first.inner_text()
    tab.page.goto(arn_url(hostile["group"]))
    tab.page.click("text=Create a filter")
    tab.page.fill("#filterExpression", 'INCLUDE ItemID WHERE Items.TITLE IN ("</pre><script>alert(5)</script>")')
    tab.page.locator("#filter-check", has_text="The expression parses").wait_for()  # htmx POST with the CSRF header
    tab.shot("hostile-filter-check")
    assert dialogs == []


def test_the_error_pages_back_link_works_without_inline_script(browser, server, tmp_path: Path) -> None:
    tab = Tab(browser, server, tmp_path)
    try:
        tab.sign_in()
        tab.page.goto("/console/dataset-groups")
        tab.page.goto("/console/dataset-group/nonsense")
        tab.page.click("text=Back")
        tab.page.wait_for_url("**/console/dataset-groups")
        assert not [e for e in tab.errors if "Content Security Policy" in e], tab.errors
    finally:
        tab.close()


@pytest.mark.parametrize("odd", ODD_NUMBERS, ids=["superscript-two", "5000-digits"])
def test_odd_numbers_in_a_query_or_form_are_no_server_errors(server, hostile, odd: str) -> None:
    session, csrf = signed_in_session(server)
    paged = _get(server, arn_url(hostile["dataset"]) + "?" + urlencode({"page": odd}), session)
    assert paged.status_code == 200 and "Import jobs" in paged.text
    for field in ("numResults", "promotionPercent"):
        query = {"try": "1", "userId": "u1", field: odd, "promotionFilterArn": hostile["filter"]}
        answer = _get(server, arn_url(hostile["campaign"]) + "?" + urlencode(query), session)
        assert answer.status_code == 200, (field, answer.text[-200:])
        assert 'id="results"' in answer.text or "InvalidInputException" in answer.text, field
    personalize = server.client("personalize")
    version = personalize.describe_campaign(campaignArn=hostile["campaign"])["campaign"]["solutionVersionArn"]
    forms = {
        arn_url(hostile["campaign"]) + "/update": {"solutionVersionArn": version},
        "/console/campaigns": {"name": unique("odd"), "solutionVersionArn": version},
    }
    for path, form in forms.items():
        answer = session.post(
            server.url + path, data={**form, "minProvisionedTPS": odd, "csrf": csrf}, allow_redirects=False
        )
        assert answer.status_code == 400, (path, answer.status_code, answer.text[-200:])
        assert "minProvisionedTPS" in answer.text, path
    campaign = personalize.describe_campaign(campaignArn=hostile["campaign"])["campaign"]
    assert "latestCampaignUpdate" not in campaign and campaign["minProvisionedTPS"] == 1
    assert len(personalize.list_campaigns()["campaigns"]) == 1  # nothing deployed with a TPS it never asked for


def test_head_requests_answer_as_gets_do(server) -> None:
    """Link checkers and uptime probes send HEAD: the sign-in page is there, and a page sends them to sign in."""
    login = requests.head(server.url + "/console/login", allow_redirects=False)
    assert login.status_code == 200 and login.headers["content-type"].startswith("text/html")
    home = requests.head(server.url + "/console/", allow_redirects=False)
    assert home.status_code == 303 and home.headers["location"].startswith("/console/login")


def test_the_console_root_never_redirects_to_a_host_from_the_request(server) -> None:
    answer = requests.get(server.url + "/console", headers={"Host": "evil.example"}, allow_redirects=False)
    assert answer.status_code in (301, 302, 303, 307, 308)
    assert answer.headers["location"] == "/console/"


def test_a_shared_try_it_link_opened_before_signing_in_lands_on_its_answer(server, hostile) -> None:
    """Try it is a GET form so that an answer can be shared; whoever opens the link signed out must, once signed
    in, see that answer (the query too), not the bare campaign page."""
    link = arn_url(hostile["campaign"]) + "?" + urlencode({"try": "1", "userId": "u3", "numResults": "4"})
    session = requests.Session()
    sent = session.get(server.url + link, allow_redirects=False)
    assert sent.status_code == 303
    target = parse_qs(urlsplit(sent.headers["location"]).query)["next"][0]
    assert target == link
    form = session.get(server.url + sent.headers["location"]).text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    assert re.search(r'name="next" value="([^"]+)"', form).group(1).replace("&amp;", "&") == link
    fields = {"csrf": token, "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY, "next": target}
    signed_in = session.post(server.url + "/console/login", data=fields, allow_redirects=False)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == link
    answer = session.get(server.url + link)
    assert answer.status_code == 200 and len(re.findall(r'<tr class="result"', answer.text)) == 4


def test_an_outside_next_is_never_followed(server) -> None:
    """Open redirects: whatever ``next`` a link carries, signing in lands on a console page of this server."""
    session = requests.Session()
    for target in ("//evil.example/", "https://evil.example/console/", "/console/\\\\evil.example", "/\t/evil.example"):
        form = session.get(server.url + "/console/login?" + urlencode({"next": target})).text
        token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        fields = {"csrf": token, "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY, "next": target}
        answer = requests.post(
            server.url + "/console/login", data=fields, cookies=session.cookies, allow_redirects=False
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/console/", target


def test_a_form_sent_after_the_session_ended_leads_back_to_its_page(browser, server, hostile, tmp_path: Path) -> None:
    """Eight hours on, the tab still open: the next form sent (plain or htmx) goes to the sign-in page, and signing
    in returns to the page the form was on (not a bare 'Sign in first.' text, not the home page); nothing is done."""
    tab = Tab(browser, server, tmp_path)
    try:
        tab.sign_in()
        group = arn_url(hostile["group"])
        tab.page.goto(group)
        tab.context.clear_cookies()  # the session ended
        tab.page.click("text=Create a filter")
        tab.page.fill("#filter-name", "late")
        tab.page.fill("#filterExpression", 'INCLUDE ItemID WHERE Items.TITLE IN ("x")')  # htmx checks it as typed
        tab.page.wait_for_url("**/console/login?**")
        assert parse_qs(urlsplit(tab.page.url).query)["next"] == [group]
        tab.sign_in(start=tab.page.url)
        assert urlsplit(tab.page.url).path == group
        dataset = arn_url(hostile["dataset"])
        tab.page.goto(dataset)
        tab.context.clear_cookies()
        tab.page.click("text=Start an import job")
        tab.page.fill("#dataLocation", str(server.work / "interactions.csv"))
        tab.page.click("text=Start import")
        tab.page.wait_for_url("**/console/login?**")
        assert parse_qs(urlsplit(tab.page.url).query)["next"] == [dataset]
        assert "Sign in" in tab.page.locator("h1").inner_text()
        tab.sign_in(start=tab.page.url)
        assert urlsplit(tab.page.url).path == dataset
    finally:
        tab.close()
    personalize = server.client("personalize")
    assert len(personalize.list_dataset_import_jobs(datasetArn=hostile["dataset"])["datasetImportJobs"]) == 2  # its own


def test_behind_a_tls_proxy_the_cookies_are_secure(server) -> None:
    """Behind a load balancer that ends TLS (README: "behind any load balancer") the server sees plain HTTP; the
    proxy's X-Forwarded-Proto says the browser used HTTPS, so the cookies must be Secure (never sent over HTTP).
    A client lying about it only makes its own cookie stricter."""
    behind = {"X-Forwarded-Proto": "https"}
    form = requests.get(server.url + "/console/login", headers=behind)
    assert "; secure" in form.headers["set-cookie"].lower()
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    fields = {"csrf": token, "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY, "next": "/console/"}
    nonce = form.headers["set-cookie"].split(";")[0]  # as the browser sends it back over HTTPS
    signed_in = requests.post(
        server.url + "/console/login", data=fields, headers={**behind, "Cookie": nonce}, allow_redirects=False
    )
    assert signed_in.status_code == 303
    name = cookie_name(SESSION_COOKIE, server.port)
    session_cookie = [c for c in signed_in.raw.headers.getlist("set-cookie") if c.startswith(name + "=")]
    assert len(session_cookie) == 1 and "; secure" in session_cookie[0].lower()
    plain = requests.get(server.url + "/console/login")  # plain HTTP on this machine: no Secure, or nothing works
    assert "secure" not in plain.headers["set-cookie"].lower()


def test_a_filter_refused_by_the_service_comes_back_with_what_was_typed(server, hostile) -> None:
    """A CreateFilter the service refuses (a name taken) answers as a bad expression does: the form as typed with the
    reason beside it, not an error page to go Back from."""
    session, csrf = signed_in_session(server)
    name = server.client("personalize").describe_filter(filterArn=hostile["filter"])["filter"]["name"]
    expression = 'INCLUDE ItemID WHERE Items.TITLE IN ("kept as typed")'
    form = {"csrf": csrf, "name": name, "datasetGroupArn": hostile["group"], "filterExpression": expression}
    answer = session.post(server.url + "/console/filters", data=form, allow_redirects=False)
    assert answer.status_code == 200  # a page with the reason, as a refused sign-in is
    assert "ResourceAlreadyExistsException" in answer.text and "already exists" in answer.text
    assert f'value="{name}"' in answer.text
    assert "&#34;kept as typed&#34;)</textarea>" in answer.text


def test_signing_out_says_so(server) -> None:
    """Sign out lands on the sign-in page with ``signed_out=1``: the page must say the browser is signed out (a
    shared machine's next user sees it was done), and the old page is gone."""
    session, csrf = signed_in_session(server)
    answer = session.post(server.url + "/console/logout", data={"csrf": csrf})
    assert answer.url.endswith("/console/login?signed_out=1")
    assert re.search(r'role="status"[^>]*>[^<]*signed out', answer.text, re.IGNORECASE), answer.text[-600:]
    assert _get(server, "/console/", session).status_code == 303


def test_a_same_site_page_cannot_delete_through_the_signed_in_browser(browser, server, hostile, tmp_path) -> None:
    """CSRF from where SameSite=Strict does not help: another port of the same host auto-submits the delete form
    (the session cookie goes along); without the session's token it is refused and the filter stays."""
    form = (
        f'<form id="f" method="post" action="{server.url}/console/delete">'
        f'<input name="arn" value="{hostile["filter"]}"><input name="csrf" value="guess"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    tab = Tab(browser, server, tmp_path)
    try:
        tab.sign_in()
        with attacker_site(form) as url:
            with tab.page.expect_response(lambda r: r.url.endswith("/console/delete")) as answer:
                tab.page.goto(url)
            assert answer.value.status == 403
    finally:
        tab.close()
    assert server.client("personalize").describe_filter(filterArn=hostile["filter"])["filter"]["status"] == "ACTIVE"


def test_two_servers_on_one_host_keep_their_sessions_apart(browser, server, tmp_path: Path) -> None:
    """Browsers keep cookies per host, not per port: with ``serve`` on one port and ``demo --keep`` on another (each
    with its own key pair), signing in to one must not sign the browser out of the other."""
    second = Server(tmp_path / "data", None, [], env={"OPENPERSONALIZE_SECRET_ACCESS_KEY": "another-secret"}).start()
    first = Tab(browser, server, tmp_path)
    try:
        first.sign_in()
        other = first.context.new_page()
        other.goto(second.url + "/console/login")
        other.fill("#access_key_id", ACCESS_KEY)
        other.fill("#secret_access_key", "another-secret")
        other.click("button[type=submit]")
        other.wait_for_url(second.url + "/console/")
        for page, url in ((first.page, server.url), (other, second.url)):
            page.goto(url + "/console/dataset-groups")
            assert page.url == url + "/console/dataset-groups", "signed out by the other server's sign-in"
    finally:
        first.close()
        second.stop()
