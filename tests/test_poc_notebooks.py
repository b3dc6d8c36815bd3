"""The users' six POC notebooks (../shared/personalize-poc) run cell by cell against openpersonalize.

The cells run under IPython in their own environment (pandas < 2, see poc_notebooks/requirements.txt),
changed only as poc_notebooks/adaptations.py lists, with Personalize's clients pointed at a real
openpersonalize server and S3, IAM and STS at moto's. Then the results are checked against the kind
of results real Personalize gave (05_seed_notebook_fr.txt): genre and decade shelves, watched and
unwatched shelves, personalized ranking, the batch job's JSON Lines output, offline metrics.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from cached_tools import cached_venv
from helpers import METRIC_KEYS, skip_or_fail
from poc_notebooks import adaptations
from server_harness import ACCESS_KEY, SECRET_KEY, Server, free_port, wait_for_port

NOTEBOOK_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "personalize-poc"
RUNNER = Path(__file__).with_name("poc_notebooks") / "runner.py"
REQUIREMENTS = RUNNER.with_name("requirements.txt")
RUN_TIMEOUT_S = 3000
# The first test to use ``run`` waits for the whole notebook run (a minute or two on 2 cores).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(RUN_TIMEOUT_S + 300)]


@pytest.fixture(scope="module")
def notebook_dir() -> Path:
    if not (NOTEBOOK_DIR / adaptations.NOTEBOOKS[0]).exists():
        skip_or_fail(f"the POC notebooks are not at {NOTEBOOK_DIR} (../shared beside the repository)")
    return NOTEBOOK_DIR


def test_each_adaptation_matches_its_notebook_once(notebook_dir):
    notebooks = adaptations.adapted_cells(notebook_dir)
    assert [name for name, _ in notebooks] == list(adaptations.NOTEBOOKS)
    adapted = {name: "\n".join(cells) for name, cells in notebooks}
    for sub in adaptations.SUBSTITUTIONS:
        assert sub.old.strip() not in adapted[sub.notebook] and sub.new.strip() in adapted[sub.notebook]
    assert [len(cells) for _, cells in notebooks] == [33, 17, 23, 19, 39, 15]


def test_a_changed_notebook_fails_loudly(notebook_dir, tmp_path):
    """A notebook whose adapted line changed is refused, rather than run unadapted (here: downloading)."""
    for name in adaptations.NOTEBOOKS:
        (tmp_path / name).write_text((notebook_dir / name).read_text())
    first = tmp_path / adaptations.NOTEBOOKS[0]
    first.write_text(first.read_text().replace("&& wget http", "&& wget -q http", 1))
    with pytest.raises(ValueError, match="01_Validating.* 0 times"):
        adaptations.adapted_cells(tmp_path)


@pytest.fixture(scope="module")
def aws_server(tmp_path_factory):
    """moto's server in its own process (S3, IAM, STS), knowing AWS's managed policies."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")  # noqa: SIM115
    env = {**os.environ, **adaptations.MOTO_ENV}
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


class Run:
    """The runner's report: the cells it ran and every Personalize call they made, in order."""

    def __init__(self, report: dict, log: Path, server: Server, aws_url: str) -> None:
        self.cells = report["cells"]
        self.calls = report["calls"]
        self.log = log
        self.server = server
        self.aws_url = aws_url

    def of(self, operation: str) -> list[dict]:
        return [c for c in self.calls if c["operation"] == operation]

    def aws(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.aws_url,
            region_name=adaptations.REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )


@pytest.fixture(scope="module")
def run(notebook_dir, tmp_path_factory, aws_server, movielens_dir) -> Run:
    venv = cached_venv("poc-venv", REQUIREMENTS)
    root = tmp_path_factory.mktemp("poc")
    work = root / "notebooks"
    work.mkdir()
    server_env = {
        "OPENPERSONALIZE_S3_ENDPOINT_URL": aws_server,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": adaptations.REGION,
    }
    server = Server(root / "data", None, [work], server_env).start()
    try:
        env = adaptations.environment(server.url, aws_server, ACCESS_KEY, SECRET_KEY, work, venv)
        report, log = work / "report.json", root / "notebooks.log"
        with open(log, "wb") as out:
            cmd = [str(venv / "bin" / "python"), str(RUNNER), str(notebook_dir), str(movielens_dir), str(report)]
            subprocess.run(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT_S)
        if not report.exists():
            pytest.fail(f"the notebook runner wrote no report; its output: {log}\n{log.read_text()[-3000:]}")
        yield Run(json.loads(report.read_text()), log, server, aws_server)
    finally:
        server.stop()


def movie_table(movielens_dir: Path) -> dict[str, dict]:
    """GENRE and YEAR of each movie, derived as notebook 02 derives them (YEAR: the last "(...)" of the title)."""
    table = {}
    with open(movielens_dir / "movies.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            match = re.match(r".*\((.*)\).*", row["title"])
            year = match.group(1) if match else ""
            table[row["movieId"]] = {"genres": row["genres"].split("|"), "year": int(year) if year.isdigit() else None}
    return table


def watch_history(movielens_dir: Path) -> dict[str, set[str]]:
    """Each user's watch events in the imported interactions (notebook 01: a rating above 3 is a watch)."""
    history: dict[str, set[str]] = defaultdict(set)
    with open(movielens_dir / "ratings.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if float(row["rating"]) > 3:
                history[row["userId"]].add(row["movieId"])
    return history


@pytest.fixture(scope="module")
def movies(movielens_dir) -> dict[str, dict]:
    return movie_table(movielens_dir)


@pytest.fixture(scope="module")
def watched(movielens_dir) -> dict[str, set[str]]:
    return watch_history(movielens_dir)


def _items(call: dict) -> list[str]:
    return [item["itemId"] for item in call["response"]["itemList"]]


def _filter_expressions(run: Run) -> dict[str, str]:
    return {c["response"]["filterArn"]: c["params"]["filterExpression"] for c in run.of("CreateFilter")}


def test_every_cell_runs(run):
    expected = sum(
        len((NOTEBOOK_DIR / name).read_text().split(adaptations.CELL_SEPARATOR)) for name in adaptations.NOTEBOOKS
    )
    failed = [c for c in run.cells if "error" in c]
    if failed:
        cell = failed[0]
        where = f"{cell['notebook']} cell {cell['index']}"
        pytest.fail(f"{where} failed:\n{cell['source']}\n{cell['error']}\n(full output: {run.log})")
    assert len(run.cells) == expected
    assert all(c["status"] == 200 for c in run.calls)


def test_every_job_and_resource_becomes_active(run):
    """The notebooks' polling loops stop on CREATE FAILED too; here everything must have become ACTIVE."""
    polls = {
        "DescribeDatasetGroup": ("datasetGroup", "datasetGroupArn", 1),
        "DescribeDatasetImportJob": ("datasetImportJob", "datasetImportJobArn", 2),
        "DescribeSolutionVersion": ("solutionVersion", "solutionVersionArn", 3),
        "DescribeCampaign": ("campaign", "campaignArn", 3),
        "DescribeBatchInferenceJob": ("batchInferenceJob", "batchInferenceJobArn", 1),
    }
    for operation, (key, arn_key, count) in polls.items():
        last = {c["params"][arn_key]: c["response"][key] for c in run.of(operation)}
        assert len(last) == count, operation
        for arn, resource in last.items():
            assert resource["status"] == "ACTIVE", (arn, resource.get("failureReason"))


def test_solution_metrics_are_numbers(run):
    responses = run.of("GetSolutionMetrics")
    assert len(responses) == 3
    for call in responses:
        metrics = call["response"]["metrics"]
        assert set(METRIC_KEYS) <= set(metrics), metrics
        assert all(isinstance(metrics[m], float) and 0 <= metrics[m] <= 1 for m in METRIC_KEYS), metrics
        assert metrics["coverage"] > 0 and metrics["precision_at_25"] > 0, metrics


def test_sims_and_user_recommendations(run, movies):
    """SIMS for Terminator 2 and the sampled movies; user-personalization differs from user to user.

    As in the seed (Jurassic Park, Braveheart, The Terminator, Speed, ...), most of Terminator 2's similar
    movies share one of its genres (Action, Sci-Fi).
    """
    sims = [c for c in run.of("GetRecommendations") if "itemId" in c["params"]]
    assert sims[0]["params"]["itemId"] == "589" and len(sims) == 6
    for call in sims:
        items = _items(call)
        assert len(items) == 25 and call["params"]["itemId"] not in items
    alike = [item for item in _items(sims[0]) if {"Action", "Sci-Fi"} & set(movies[item]["genres"])]
    assert len(alike) >= 13, alike
    lists = {}
    for call in run.of("GetRecommendations"):
        if "userId" in call["params"] and "filterArn" not in call["params"]:
            lists.setdefault(call["params"]["userId"], _items(call))
    assert len(lists) == 3 and all(len(items) == 25 for items in lists.values())
    assert len({tuple(items) for items in lists.values()}) == 3


def test_title_lookups_succeed(run):
    """Every recommended id is a movie whose title get_movie_by_id finds: only the deliberate bad ids fail."""
    failures = [c for c in run.cells if "Error obtaining title" in c["output"]]
    assert len(failures) == 1 and failures[0]["output"].count("Error obtaining title") == 2, failures
    assert any("Terminator 2: Judgment Day (1991)" in c["output"] for c in run.cells)


def test_genre_shelves(run, movies):
    expressions = _filter_expressions(run)
    genre_of = {arn: m.group(1) for arn, e in expressions.items() if (m := re.search(r'Items\.GENRE IN \("(.+)"\)', e))}
    assert len(genre_of) == 7
    shelves = [c for c in run.of("GetRecommendations") if c["params"].get("filterArn") in genre_of]
    assert len(shelves) == 7
    for call in shelves:
        genre, items = genre_of[call["params"]["filterArn"]], _items(call)
        assert items, genre
        assert all(genre in movies[item]["genres"] for item in items), (genre, items)


def test_1970s_shelf(run, movies):
    decade = [arn for arn, e in _filter_expressions(run).items() if "Items.YEAR >= 1970 AND Items.YEAR < 1980" in e]
    shelves = [c for c in run.of("GetRecommendations") if c["params"].get("filterArn") in decade]
    assert len(shelves) == 1
    items = _items(shelves[0])
    assert len(items) == 25
    assert all(movies[item]["year"] in range(1970, 1980) for item in items), items


def test_watched_and_unwatched_shelves(run, watched):
    """Watched shows only movies the user watched (imported or sent by PutEvents before), unwatched none of them."""
    expressions = _filter_expressions(run)
    kind = {arn: e.split()[0] for arn, e in expressions.items() if "Interactions.event_type" in e}
    assert sorted(kind.values()) == ["EXCLUDE", "INCLUDE"]
    history = {user: set(items) for user, items in watched.items()}
    shelves = 0
    for call in run.calls:
        if call["operation"] == "PutEvents":
            for event in call["params"]["eventList"]:
                if event["eventType"] == "watch":
                    history[call["params"]["userId"]].add(json.loads(event["properties"])["itemId"])
        elif call["operation"] == "GetRecommendations" and call["params"].get("filterArn") in kind:
            shelves += 1
            items, seen = set(_items(call)), history[call["params"]["userId"]]
            assert items, call["params"]
            if kind[call["params"]["filterArn"]] == "INCLUDE":
                assert items <= seen
            else:
                assert not items & seen
    assert shelves == 5  # watched + unwatched, before and after the 4 watches, and the top-4 unwatched


def test_real_time_clicks_change_recommendations(run):
    """Each click sent with PutEvents changes the user's next recommendations, without retraining."""
    events = run.of("PutEvents")
    assert [e["params"]["eventList"][0]["eventType"] for e in events] == ["click"] * 3 + ["watch"] * 4
    latest, clicked, changes = None, False, 0
    for call in run.calls:
        if call["operation"] == "PutEvents":
            clicked = call["params"]["eventList"][0]["eventType"] == "click"
        elif (
            call["operation"] == "GetRecommendations" and call["params"].get("userId") == events[0]["params"]["userId"]
        ):
            if "filterArn" in call["params"]:
                continue
            if clicked:
                assert _items(call) != latest
                changes += 1
            latest, clicked = _items(call), False
    assert changes == 3


def test_personalized_ranking_reorders_the_input(run):
    (call,) = run.of("GetPersonalizedRanking")
    ranked = [item["itemId"] for item in call["response"]["personalizedRanking"]]
    assert sorted(ranked) == sorted(call["params"]["inputList"]) and len(ranked) == 25


def test_batch_output(run):
    """One JSON line per input user, with recommendations, at <input>.out in the notebooks' bucket."""
    (create,) = run.of("CreateBatchInferenceJob")
    bucket = create["params"]["jobInput"]["s3DataSource"]["path"].split("/")[2]
    body = run.aws("s3").get_object(Bucket=bucket, Key="json_input.json.out")["Body"].read().decode()
    lines = [json.loads(line) for line in body.splitlines()]
    users = {c["params"]["userId"] for c in run.of("GetRecommendations") if "userId" in c["params"]}
    assert len(lines) == 3 and {line["input"]["userId"] for line in lines} == users
    for line in lines:
        assert len(line["output"]["recommendedItems"]) == 25


def test_clean_up_removes_everything(run):
    personalize = run.server.client("personalize")
    (group,) = {c["response"]["datasetGroupArn"] for c in run.of("CreateDatasetGroup")}
    try:
        status = personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"]
        assert status == "DELETE PENDING"
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError, match="NoSuchEntity"):
        run.aws("iam").get_role(RoleName="PersonalizeRolePOC")
