"""Clients beyond boto3: the AWS CLI and the AWS SDK for JavaScript v3 against a real server.

Each client runs a script of its own (tests/clients/) over real HTTP against a campaign
trained here on a small two-genre data set: list/describe/paginate, create/delete,
GetRecommendations with a filter, GetPersonalizedRanking, PutEvents changing the next
recommendations, and errors surfacing as the AWS exception types. The AWS CLI lives in a
cached venv of its own (it pins botocore exactly); the SDK's node_modules come from
``npm ci`` on the committed lock file. Both are installed on first use.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
from pathlib import Path

import pytest

from cached_tools import cached_venv, npm_modules
from helpers import deploy, import_dataset, train
from openpersonalize.data import movielens
from server_harness import ACCESS_KEY, REGION, SECRET_KEY, unique

# The wire protocol does not depend on the metadata backend: one (SQLite) server is enough here.
pytestmark = pytest.mark.parametrize("server", ["sqlite"], indirect=True)

CLIENTS = Path(__file__).resolve().parent / "clients"
CLI_CHECKS = 46
SDK_CHECKS = 19
GENRES = ("comedy", "drama")
ITEMS = {genre: [f"{genre}-{n:02d}" for n in range(20)] for genre in GENRES}
USERS = {"comedy": [f"c-user-{n:02d}" for n in range(60)], "drama": [f"d-user-{n:02d}" for n in range(40)]}


@pytest.fixture(scope="session")
def aws_cli_bin() -> Path:
    """The bin directory of a venv holding the pinned AWS CLI (it pins botocore exactly, so not ours)."""
    return cached_venv("awscli-venv", CLIENTS / "requirements-awscli.txt") / "bin"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """tests/clients/node_modules from ``npm ci`` on the committed lock file."""
    return npm_modules(CLIENTS)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _interactions() -> list[list]:
    """Each user watches 12 items of their genre (a window sliding with the user), comedy the more popular."""
    rows = []
    for genre in GENRES:
        for u, user in enumerate(USERS[genre]):
            for k in range(12):
                item = ITEMS[genre][(u + k) % len(ITEMS[genre])]
                rows.append([user, item, "watch", 1_600_000_000 + 1000 * u + k])
    return rows


@pytest.fixture(scope="module")
def prepared(server, personalize) -> dict[str, str]:
    """A trained two-genre dataset group: campaigns, filters and a tracker, as the scripts' environment."""
    work = server.work
    items = [[item, genre, 2000] for genre in GENRES for item in ITEMS[genre]]
    items_csv = _write_csv(work / f"{unique('items')}.csv", ["ITEM_ID", "GENRE", "YEAR"], items)
    ints_csv = _write_csv(
        work / f"{unique('ints')}.csv", ["USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"], _interactions()
    )
    group = personalize.create_dataset_group(name=unique("clients"))["datasetGroupArn"]
    import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(ints_csv))
    import_dataset(personalize, group, "ITEMS", movielens.ITEMS_SCHEMA, str(items_csv))
    versions = train(personalize, group, ("aws-user-personalization", "aws-personalized-ranking"))
    campaigns = deploy(personalize, versions)
    up = versions["aws-user-personalization"]
    solution = personalize.describe_solution_version(solutionVersionArn=up)["solutionVersion"]["solutionArn"]
    genre_filter = personalize.create_filter(
        name=unique("genre"), datasetGroupArn=group, filterExpression="INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)"
    )["filterArn"]
    no_comedy = personalize.create_filter(
        name=unique("nocomedy"),
        datasetGroupArn=group,
        filterExpression='EXCLUDE ItemID WHERE Items.GENRE IN ("comedy")',
    )["filterArn"]
    tracker = personalize.create_event_tracker(name=unique("tracker"), datasetGroupArn=group)
    return {
        "OP_ENDPOINT": server.url,
        "OP_REGION": REGION,
        "OP_ACCESS_KEY_ID": ACCESS_KEY,
        "OP_SECRET_ACCESS_KEY": SECRET_KEY,
        "OP_DATASET_GROUP_ARN": group,
        "OP_SOLUTION_ARN": solution,
        "OP_SOLUTION_VERSION_ARN": up,
        "OP_CAMPAIGN_ARN": campaigns["aws-user-personalization"],
        "OP_RANKING_CAMPAIGN_ARN": campaigns["aws-personalized-ranking"],
        "OP_GENRE_FILTER_ARN": genre_filter,
        "OP_NO_COMEDY_FILTER_ARN": no_comedy,
        "OP_EVENT_TRACKER_ARN": tracker["eventTrackerArn"],
        "OP_TRACKING_ID": tracker["trackingId"],
        "OP_COMEDY_USER": USERS["comedy"][0],
        "OP_DRAMA_USER": USERS["drama"][0],
        "OP_COMEDY_ITEMS": " ".join(ITEMS["comedy"]),
        "OP_DRAMA_ITEMS": " ".join(ITEMS["drama"]),
    }


def _run_script(cmd: list[str], env: dict[str, str]) -> str:
    """Run a client script with only the prepared environment's AWS settings; its stdout, or fail with its output."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENPERSONALIZE_"))}
    done = subprocess.run(cmd, cwd=CLIENTS, env={**base, **env}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{cmd[-1]} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def _passed(stdout: str) -> int:
    summary = re.search(r"^(\d+) passed, 0 failed$", stdout, re.M)
    assert summary, stdout[-2000:]
    return int(summary[1])


def test_aws_cli(prepared, aws_cli_bin):
    """The AWS CLI runs the whole script: every check passes and none is skipped."""
    path = f"{aws_cli_bin}{os.pathsep}{os.environ.get('PATH', '')}"
    stdout = _run_script(["bash", str(CLIENTS / "personalize_cli.sh")], {**prepared, "PATH": path})
    assert _passed(stdout) == CLI_CHECKS
    calls = re.search(r"^aws calls: (\d+)$", stdout, re.M)
    assert calls and int(calls[1]) >= 60, stdout[-2000:]


def test_aws_sdk_for_javascript(prepared, node_modules):
    """The AWS SDK for JavaScript v3 runs the whole script: every check passes and none is skipped."""
    stdout = _run_script(["node", str(CLIENTS / "personalize_sdk.mjs")], prepared)
    assert _passed(stdout) == SDK_CHECKS
