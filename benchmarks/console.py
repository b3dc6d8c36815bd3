"""Server time of every console page on ml-latest-small (issue 16: each under 300 ms).

Starts a server, imports the POC data, trains and deploys user-personalization, SIMS and
aws-popularity-count, adds a filter, an event tracker with 200 events and ``--groups`` more dataset
groups (a table of 10,000 rows, which the console pages 50 at a time), signs in through the form,
then requests each page ``--repeat`` times after one warm-up and prints the median and worst server
time (the ``Server-Timing`` header the console sets) and the page size.

    python benchmarks/console.py [--repeat 5] [--groups 10000]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import KEY, SECRET, load_poc_group, start_server, train_and_deploy, wait  # noqa: E402

from openpersonalize.console.web import arn_url  # noqa: E402

TARGET_MS = 300.0
TIMING = re.compile(r"app;dur=([\d.]+)")


def sign_in(base: str) -> requests.Session:
    session = requests.Session()
    token = re.search(r'name="csrf" value="([^"]+)"', session.get(base + "/console/login").text).group(1)
    fields = {"csrf": token, "access_key_id": KEY, "secret_access_key": SECRET, "next": "/console/"}
    assert session.post(base + "/console/login", data=fields, allow_redirects=False).status_code == 303
    return session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--groups", type=int, default=10_000, help="dataset groups, so one table has this many rows")
    args = parser.parse_args()
    server = start_server()
    try:
        p = server.client()
        data = load_poc_group(server)
        deployed = {r: train_and_deploy(server, data["group"], r) for r in ("aws-user-personalization", "aws-sims")}
        deployed["aws-popularity-count"] = train_and_deploy(server, data["group"], "aws-popularity-count")
        genre = p.create_filter(
            name="genre", datasetGroupArn=data["group"], filterExpression="INCLUDE ItemID WHERE Items.GENRE IN ($G)"
        )["filterArn"]
        tracker = p.create_event_tracker(name="bench", datasetGroupArn=data["group"])
        wait(p.describe_event_tracker, "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
        events = server.client("personalize-events")
        for n in range(20):
            batch = [
                {"eventType": "click", "itemId": str(1 + (n * 10 + i) % 500), "sentAt": time.time()} for i in range(10)
            ]
            events.put_events(trackingId=tracker["trackingId"], userId="1", sessionId="s1", eventList=batch)
        for _ in range(args.groups):
            p.create_dataset_group(name=f"g-{uuid.uuid4().hex[:10]}")
        up = deployed["aws-user-personalization"]
        job = p.list_dataset_import_jobs(datasetArn=data["INTERACTIONS"])["datasetImportJobs"][0]
        pages = {
            "home": "/console/",
            f"dataset groups ({args.groups + 1} rows, paginated)": "/console/dataset-groups",
            "dataset group": arn_url(data["group"]),
            "dataset (interactions)": arn_url(data["INTERACTIONS"]),
            "dataset (items)": arn_url(data["ITEMS"]),
            "solution": arn_url(up["solution"]),
            "solution version": arn_url(up["version"]),
            "campaign": arn_url(up["campaign"]),
            "try it: user 1, 25 items, reasons": arn_url(up["campaign"]) + "?try=1&userId=1&numResults=25",
            "try it: user 1, genre filter": arn_url(up["campaign"])
            + f"?try=1&userId=1&filterArn={quote(genre)}&fv_G=%22Comedy%22",
            "try it: SIMS item 1": arn_url(deployed["aws-sims"]["campaign"]) + "?try=1&itemId=1",
            "filter": arn_url(genre),
            "event tracker (live tail)": arn_url(tracker["eventTrackerArn"]),
            "import job": arn_url(job["datasetImportJobArn"]),
        }
        session = sign_in(server.url)
        print(f"{'page':<48} {'median ms':>10} {'worst ms':>9} {'KiB':>7}")
        worst_all = 0.0
        for name, path in pages.items():
            times = []
            size = 0
            for _ in range(args.repeat + 1):  # the first request warms caches (a model, a snapshot summary)
                answer = session.get(server.url + path)
                assert answer.status_code == 200, (name, answer.status_code)
                times.append(float(TIMING.search(answer.headers["server-timing"]).group(1)))
                size = len(answer.content)
            times = times[1:]
            worst_all = max(worst_all, max(times))
            print(f"{name:<48} {statistics.median(times):>10.1f} {max(times):>9.1f} {size / 1024:>7.1f}")
        verdict = "under" if worst_all < TARGET_MS else "OVER"
        print(f"slowest page: {worst_all:.1f} ms ({verdict} the {TARGET_MS:.0f} ms target)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
