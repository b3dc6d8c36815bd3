"""Solution and campaign lifecycles under concurrent requests (over HTTP): what was acknowledged survives.

One training per solution at a time, one pending campaign switch at a time and never cleared by an
older deploy, and no solution deleted from under an unfinished batch job.
"""

from __future__ import annotations

import threading
from functools import partial

import pytest
from botocore.exceptions import ClientError

from helpers import RECIPE, ROLE, concurrently, error_code, error_message, import_dataset, wait_until
from openpersonalize.data import movielens
from server_harness import unique, wait_status

ROUNDS = 5
CALLERS = 4
BATCH_USERS = 5000
POPULARITY = RECIPE + "aws-popularity-count"


@pytest.fixture(scope="module")
def small_group(server, personalize, movielens_dir) -> str:
    """A dataset group with a few thousand MovieLens interactions: enough to train, quick to train."""
    ratings = movielens.prepare_interactions(movielens_dir / "ratings.csv").slice(0, 4000)
    path = movielens.write_csv(ratings, server.work / f"{unique('small')}.csv")
    group = personalize.create_dataset_group(name=unique("lifecycle"))["datasetGroupArn"]
    import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(path))
    return group


def _train(personalize, solution: str) -> str:
    arn = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    done = wait_status(personalize.describe_solution_version, "solutionVersion", solutionVersionArn=arn)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    return arn


def _settled(personalize, campaign: str) -> dict:
    """The campaign once neither its creation nor its latest update is pending or in progress."""

    def describe() -> dict:
        return personalize.describe_campaign(campaignArn=campaign)["campaign"]

    def done() -> bool:
        now = describe()
        update = now.get("latestCampaignUpdate") or {}
        return now["status"] == "ACTIVE" and update.get("status", "ACTIVE") in ("ACTIVE", "CREATE FAILED")

    wait_until(done, what=f"campaign {campaign} settling")
    return describe()


def _train_while_redeploying(personalize, solution: str, campaign: str) -> str:
    """Train a new version while UpdateCampaign keeps a deploy of ``campaign`` running most of the time."""
    _settled(personalize, campaign)
    stop = threading.Event()
    refusals: list[str] = []

    def redeploy() -> None:
        tps = 1
        while not stop.is_set():
            tps = 3 - tps
            try:
                personalize.update_campaign(campaignArn=campaign, minProvisionedTPS=tps)
            except ClientError as exc:
                refusals.append(exc.response["Error"]["Code"])

    hammer = threading.Thread(target=redeploy)
    hammer.start()
    try:
        newer = _train(personalize, solution)
    finally:
        stop.set()
        hammer.join()
    assert set(refusals) <= {"ResourceInUseException"}, set(refusals)
    return newer


def test_concurrent_solution_versions_start_one_training(personalize, small_group):
    for _ in range(ROUNDS):
        solution = personalize.create_solution(name=unique("one"), datasetGroupArn=small_group, recipeArn=POPULARITY)
        arn = solution["solutionArn"]
        results = concurrently(*[partial(personalize.create_solution_version, solutionArn=arn)] * CALLERS)
        started = [r["solutionVersionArn"] for r in results if isinstance(r, dict)]
        assert len(started) == 1, results
        assert sorted(r for r in results if not isinstance(r, dict)) == ["ResourceInUseException"] * (CALLERS - 1)
        listed = personalize.list_solution_versions(solutionArn=arn)["solutionVersions"]
        assert [v["solutionVersionArn"] for v in listed] == started
        wait_status(personalize.describe_solution_version, "solutionVersion", solutionVersionArn=started[0])
        personalize.delete_solution(solutionArn=arn)


def test_a_finishing_deploy_keeps_the_newer_switch_queued_meanwhile(personalize, small_group):
    """A version trained while the campaign deploys queues a switch to it; the running deploy must not clear it."""
    solution = personalize.create_solution(name=unique("sync"), datasetGroupArn=small_group, recipeArn=POPULARITY)
    first = _train(personalize, solution["solutionArn"])
    campaign = personalize.create_campaign(
        name=unique("sync"),
        solutionVersionArn=first,
        minProvisionedTPS=1,
        campaignConfig={"syncWithLatestSolutionVersion": True},
    )["campaignArn"]
    for _ in range(ROUNDS):
        newer = _train_while_redeploying(personalize, solution["solutionArn"], campaign)
        # the switch is queued in the transaction that writes the version ACTIVE: once it reads ACTIVE, the
        # campaign shows the switch pending (or done), so it settles on the newer version
        assert _settled(personalize, campaign)["solutionVersionArn"] == newer, "the switch to it was lost"
    personalize.delete_campaign(campaignArn=campaign)
    personalize.delete_solution(solutionArn=solution["solutionArn"])


def test_delete_solution_waits_for_its_batch_jobs_then_takes_them_along(server, personalize, small_group):
    solution = personalize.create_solution(name=unique("batch"), datasetGroupArn=small_group, recipeArn=POPULARITY)
    arn = solution["solutionArn"]
    version = _train(personalize, arn)
    src = server.work / f"{unique('users')}.json"
    src.write_text("".join(f'{{"userId": "{user}"}}\n' for user in range(BATCH_USERS)))
    job = personalize.create_batch_inference_job(
        jobName=unique("batch"),
        solutionVersionArn=version,
        roleArn=ROLE,
        jobInput={"s3DataSource": {"path": str(src)}},
        jobOutput={"s3DataDestination": {"path": str(server.work / unique("out")) + "/"}},
    )["batchInferenceJobArn"]
    with pytest.raises(ClientError) as in_use:  # the job was queued a moment ago: it has not finished
        personalize.delete_solution(solutionArn=arn)
    assert error_code(in_use) == "ResourceInUseException"
    assert job in error_message(in_use)
    done = wait_status(personalize.describe_batch_inference_job, "batchInferenceJob", batchInferenceJobArn=job)
    assert done["status"] == "ACTIVE", done.get("failureReason")  # its model was not removed from under it
    personalize.delete_solution(solutionArn=arn)
    for describe, key in (
        (personalize.describe_batch_inference_job, {"batchInferenceJobArn": job}),
        (personalize.describe_solution_version, {"solutionVersionArn": version}),
    ):
        with pytest.raises(ClientError) as gone:
            describe(**key)
        assert error_code(gone) == "ResourceNotFoundException"
    listed = personalize.list_batch_inference_jobs()["batchInferenceJobs"]
    assert job not in [j["batchInferenceJobArn"] for j in listed]
