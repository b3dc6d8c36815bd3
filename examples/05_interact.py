"""Notebook 05: SIMS, user recommendations, filters, real-time events, ranking, batch inference."""

import csv
import json
import time
import uuid
from pathlib import Path

from _common import DATA_DIR, client, restore, store, wait

state = restore()
personalize = client("personalize")
personalize_runtime = client("personalize-runtime")
personalize_events = client("personalize-events")
with open(Path(state["dataset_dir"]) / "movies.csv", newline="", encoding="utf-8") as f:
    titles = {m["movieId"]: m["title"] for m in csv.DictReader(f)}


def show(label, items):
    print(label)
    for item in items:
        print("   ", titles.get(item["itemId"], item["itemId"]))


show(
    "Similar to Terminator 2:",
    personalize_runtime.get_recommendations(campaignArn=state["sims_campaign_arn"], itemId="589")["itemList"],
)
user = "1"
show(
    f"For user {user}:",
    personalize_runtime.get_recommendations(campaignArn=state["userpersonalization_campaign_arn"], userId=user)[
        "itemList"
    ],
)
for name, arn in state["filter_arns"].items():
    show(
        f"{name} shelf:",
        personalize_runtime.get_recommendations(
            campaignArn=state["userpersonalization_campaign_arn"], userId=user, filterArn=arn, numResults=5
        )["itemList"],
    )

tracker = personalize.create_event_tracker(name="MovieTracker", datasetGroupArn=state["dataset_group_arn"])
wait(personalize.describe_event_tracker, "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
session_id = str(uuid.uuid1())
for item in ("1", "2", "3"):
    personalize_events.put_events(
        trackingId=tracker["trackingId"],
        userId=user,
        sessionId=session_id,
        eventList=[{"sentAt": int(time.time()), "eventType": "click", "properties": json.dumps({"itemId": item})}],
    )
    show(
        f"After clicking {titles[item]}:",
        personalize_runtime.get_recommendations(
            campaignArn=state["userpersonalization_campaign_arn"], userId=user, numResults=5
        )["itemList"],
    )

ranked = personalize_runtime.get_personalized_ranking(
    campaignArn=state["rerank_campaign_arn"], userId=user, inputList=list(titles)[:25]
)["personalizedRanking"]
show("Re-ranked:", ranked)

json_input = DATA_DIR / "json_input.json"
json_input.write_text("".join(json.dumps({"userId": u}) + "\n" for u in ("1", "2", "3")))
job_arn = personalize.create_batch_inference_job(
    solutionVersionArn=state["userpersonalization_solution_version_arn"],
    jobName=f"VOD-POC-Batch-Inference-Job-UserPersonalization_{round(time.time() * 1000)}",
    roleArn="arn:aws:iam::000000000000:role/PersonalizeRolePOC",
    jobInput={"s3DataSource": {"path": json_input.as_uri()}},
    jobOutput={"s3DataDestination": {"path": DATA_DIR.as_uri() + "/"}},
)["batchInferenceJobArn"]
job = wait(personalize.describe_batch_inference_job, "batchInferenceJob", batchInferenceJobArn=job_arn)
assert job["status"] == "ACTIVE", job.get("failureReason")
for line in (DATA_DIR / "json_input.json.out").read_text().splitlines():
    print(json.loads(line)["input"], [titles[i] for i in json.loads(line)["output"]["recommendedItems"][:5]])
store(event_tracker_arn=tracker["eventTrackerArn"])
