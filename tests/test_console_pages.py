"""The console on the demo data (the shared POC group, trained once per server): what a Personalize user looks
at and tries, in a real browser, with a screenshot of every page under the test's output directory."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from console_browser import Tab, open_tab

from helpers import HORROR_FAN, RECIPE, ROLE, deploy
from openpersonalize.console.web import arn_url
from server_harness import unique, wait_status

COMEDY_BY_PARAM = "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)"


@pytest.fixture(scope="module")
def demo(personalize, poc_group) -> dict:
    """The POC group with campaigns of its user-personalization, SIMS and popularity versions, a genre filter
    taking $GENRE, and an event tracker."""
    versions = poc_group["versions"]
    names = ("aws-user-personalization", "aws-sims", "aws-popularity-count", "aws-personalized-ranking")
    campaigns = deploy(personalize, {n: versions[n] for n in names})
    group = poc_group["group"]
    genre = personalize.create_filter(name=unique("genre"), datasetGroupArn=group, filterExpression=COMEDY_BY_PARAM)
    tracker = personalize.create_event_tracker(name=unique("console"), datasetGroupArn=group)
    wait_status(personalize.describe_event_tracker, "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
    return {**poc_group, "campaigns": campaigns, "filter": genre["filterArn"], "tracker": tracker}


@pytest.fixture
def tab(browser, server, tmp_path: Path):
    """A signed-in tab; the test fails if the browser logged any console error meanwhile."""
    with open_tab(browser, server, tmp_path, signed_in=True) as t:
        yield t


def test_the_demo_group_shows_its_datasets_metrics_and_charts(tab: Tab, demo, personalize) -> None:
    page = tab.page
    page.goto(arn_url(demo["group"]))
    names = page.locator("table").first.inner_text()
    assert "INTERACTIONS" in names and "ITEMS" in names
    tab.shot("group")
    page.goto(arn_url(demo["datasets"]["INTERACTIONS"]))
    cards = page.locator(".cards").inner_text()
    assert "158,411" in cards and "611" in cards  # ratings as clicks + watches, plus the horror fan's 40 watches
    events = page.locator("table", has_text="Event type").inner_text()
    assert "click" in events and "watch" in events
    page.locator(".chart canvas").first.wait_for()
    assert page.locator("text=Import jobs").count() == 1 and "ACTIVE" in page.locator("table").last.inner_text()
    tab.shot("dataset-interactions")
    version = demo["versions"]["aws-user-personalization"]
    solution = personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"]["solutionArn"]
    page.goto(arn_url(solution))
    row = page.locator("#versions tbody tr").first.inner_text()
    expected = personalize.get_solution_metrics(solutionVersionArn=version)["metrics"]
    assert f"{expected['normalized_discounted_cumulative_gain_at_10']:.4f}" in row
    assert page.locator("svg.bars rect").count() == 16  # eight metrics, this version and the baseline
    assert "baseline: aws-popularity-count" in page.locator(".legend").inner_text()
    tab.shot("solution")
    page.goto(arn_url(version))
    assert "NDCG@25" in page.locator("body").inner_text()
    tab.shot("solution-version")


def test_try_it_for_user_1_then_only_comedies(tab: Tab, demo) -> None:
    page = tab.page
    page.goto(arn_url(demo["campaigns"]["aws-user-personalization"]))
    page.fill("#userId", "1")
    page.click("text=Get recommendations")
    rows = page.locator("#results tbody tr")
    assert rows.count() == 25
    assert all(t.strip() for t in page.locator("#results .title").all_inner_texts())
    reasons = page.locator("#results td.why").all_inner_texts()
    assert all(re.match(r"(item-item|factors|transition) with \S+", r) for r in reasons), reasons  # history items
    assert {"click", "watch"} & set(page.locator("#history tbody td").all_inner_texts())
    tab.shot("try-it-user-1")
    assert "userId=1" in page.url  # the answer has a URL to bookmark
    page.select_option("#filterArn", demo["filter"])
    page.fill("#fv_GENRE", '"Comedy"')
    page.click("text=Get recommendations")
    genres = page.locator("#results td.meta-GENRE").all_inner_texts()
    assert len(genres) == 25 and all("Comedy" in g for g in genres), genres
    tab.shot("try-it-comedy")


def test_related_items_say_which_co_occurrences_count(tab: Tab, demo) -> None:
    page = tab.page
    page.goto(arn_url(demo["campaigns"]["aws-sims"]) + "?try=1&itemId=1&numResults=10")
    assert page.locator("#results tbody tr").count() == 10
    assert all("co-occurrence with" in r for r in page.locator("#results td.why").all_inner_texts())
    tab.shot("try-it-sims")
    page.goto(arn_url(demo["campaigns"]["aws-popularity-count"]) + "?try=1&userId=" + HORROR_FAN)
    assert "does not explain" in page.locator("#results").inner_text()


def test_ranking_a_pasted_list_is_what_boto3_gets(tab: Tab, demo, server, horror_history) -> None:
    """GetPersonalizedRanking through Try it: the order boto3 gets, each item with its reasons."""
    page = tab.page
    campaign = demo["campaigns"]["aws-personalized-ranking"]
    wanted = ["1", "2", "3", "5", "7", *horror_history[-5:]]
    page.goto(arn_url(campaign))
    page.fill("#userId", HORROR_FAN)
    page.fill("#inputList", ", ".join(wanted))
    page.click("button:has-text('Rank')")
    shown = [row.get_attribute("data-item") for row in page.locator("#results tbody tr").all()]
    answer = server.client("personalize-runtime").get_personalized_ranking(
        campaignArn=campaign, userId=HORROR_FAN, inputList=wanted
    )
    assert shown == [item["itemId"] for item in answer["personalizedRanking"]]
    reasons = page.locator("#results td.why").all_inner_texts()
    assert all(re.match(r"(item-item|factors|transition) with|repeat of|popularity", r) for r in reasons), reasons
    tab.shot("try-it-ranking")


def test_put_events_appear_in_the_live_tail(tab: Tab, demo, server) -> None:
    page = tab.page
    page.goto(arn_url(demo["tracker"]["eventTrackerArn"]))
    event_id = unique("ev")
    server.client("personalize-events").put_events(
        trackingId=demo["tracker"]["trackingId"],
        userId="console-user",
        sessionId="console-session",
        eventList=[{"eventId": event_id, "eventType": "click", "itemId": "1", "sentAt": time.time()}],
    )
    # The tail refreshes every second; the issue asks for the event within 2 s.
    page.locator(f"tr[data-event='{event_id}']").wait_for(timeout=2000)
    assert page.locator("#events tbody tr").first.get_attribute("data-event") == event_id  # newest first
    tab.shot("event-tracker")


def test_a_batch_job_shows_its_locations_and_first_output_lines(tab: Tab, demo, personalize, server) -> None:
    src = server.work / unique("console-batch") / "users.json"
    src.parent.mkdir()
    src.write_text("".join(json.dumps({"userId": u}) + "\n" for u in ("1", "2", "3")))
    arn = personalize.create_batch_inference_job(
        jobName=unique("console"),
        solutionVersionArn=demo["versions"]["aws-user-personalization"],
        roleArn=ROLE,
        jobInput={"s3DataSource": {"path": f"file://{src}"}},
        jobOutput={"s3DataDestination": {"path": str(src.parent / "out")}},
        numResults=5,
    )["batchInferenceJobArn"]
    tab.page.goto(arn_url(arn))  # left while it runs: the page follows it until it ends
    tab.page.locator("h2", has_text="Output preview").wait_for(timeout=120_000)
    preview = [json.loads(line) for line in tab.page.locator("pre").inner_text().splitlines()]
    assert [p["input"]["userId"] for p in preview] == ["1", "2", "3"]
    assert all(len(p["output"]["recommendedItems"]) == 5 for p in preview)
    facts = tab.page.locator("dl.facts").inner_text()
    assert f"file://{src}" in facts and str(src.parent / "out") in facts
    tab.shot("batch-job")


def test_training_started_from_the_console_shows_its_progress(tab: Tab, demo, personalize) -> None:
    solution = personalize.create_solution(
        name=unique("console-train"), datasetGroupArn=demo["group"], recipeArn=RECIPE + "aws-user-personalization"
    )["solutionArn"]
    tab.page.goto(arn_url(solution))
    tab.page.click("text=Create a solution version")
    tab.page.wait_for_url("**/console/solution-version/**")
    version = personalize.list_solution_versions(solutionArn=solution)["solutionVersions"][0]["solutionVersionArn"]
    assert tab.page.url.endswith(arn_url(version))
    if personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"]["status"] != "ACTIVE":
        assert tab.page.locator("[role=progressbar]").count() == 1
        tab.shot("training")
        personalize.stop_solution_version_creation(solutionVersionArn=version)
    stopped = wait_status(personalize.describe_solution_version, "solutionVersion", solutionVersionArn=version)
    tab.page.locator("#version-status .badge", has_text=stopped["status"]).wait_for()  # it follows the version


def test_every_page_renders_without_browser_errors(tab: Tab, demo, personalize, browser, server, tmp_path) -> None:
    version = demo["versions"]["aws-sims"]
    solution = personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"]["solutionArn"]
    job = personalize.list_dataset_import_jobs(datasetArn=demo["datasets"]["ITEMS"])["datasetImportJobs"][0]
    pages = {
        "home": "/console/",
        "groups": "/console/dataset-groups",
        "dataset-items": arn_url(demo["datasets"]["ITEMS"]),
        "solution-sims": arn_url(solution),
        "version-sims": arn_url(version),
        "campaign-popularity": arn_url(demo["campaigns"]["aws-popularity-count"]),
        "filter": arn_url(demo["filter"]),
        "import-job": arn_url(job["datasetImportJobArn"]),
        "delete-confirm": "/console/delete?arn=" + quote(demo["filter"]),
    }
    for name, path in pages.items():
        answer = tab.page.goto(path)
        assert answer.status == 200, (name, answer.status)
        tab.shot(name)
    with open_tab(browser, server, tmp_path, signed_in=True, color_scheme="dark") as dark:
        for name in ("home", "dataset-items", "solution-sims"):
            dark.page.goto(pages[name])
            dark.shot(f"{name}-dark")
