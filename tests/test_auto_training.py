"""Automatic training (issue 17 item 4) over boto3, its schedule advanced by a test clock.

The server under test checks no schedules itself (``--auto-training-check 0``, server_harness): the test plays the
nodes that do, ``auto_training.train_due`` on the server's own database with a clock it advances, and
the server's job runner trains what they queue. Two such nodes racing show that one trains.
"""

from __future__ import annotations

import random
import time

import pytest
from botocore.exceptions import ClientError

from helpers import RECIPE, concurrently, deploy, error_code, error_message, import_dataset, own_server, wait_until
from openpersonalize.control.auto_training import train_due
from openpersonalize.control.base import Control, Settings
from openpersonalize.data import movielens
from openpersonalize.store.events import EventStore
from openpersonalize.store.metadata import MetadataStore
from server_harness import unique, wait_status

HOUR, DAY = 3600.0, 86_400.0


class ManualClock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with own_server(tmp_path_factory.mktemp("auto-training")) as srv:  # which checks no schedules (server_harness)
        yield srv


@pytest.fixture(scope="module")
def personalize(server):
    return server.client("personalize")


def node(server, clock: ManualClock) -> Control:
    """A node of the deployment (its own connection to the server's database) that schedules by ``clock``."""
    store = MetadataStore(f"sqlite:///{server.data_dir / 'metadata.db'}")
    return Control(Settings(data_dir=server.data_dir), store, EventStore(store), clock=clock)


@pytest.fixture(scope="module")
def group(server, personalize) -> str:
    rng = random.Random(7)
    rows = [
        {"USER_ID": f"u{u}", "ITEM_ID": f"i{rng.randrange(40)}", "EVENT_TYPE": "watch", "TIMESTAMP": 1_700_000_000 + n}
        for n, u in enumerate(u for u in range(60) for _ in range(20))
    ]
    path = server.work / f"{unique('ints')}.csv"
    with path.open("w") as out:
        out.write("USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n")
        out.writelines(f"{r['USER_ID']},{r['ITEM_ID']},{r['EVENT_TYPE']},{r['TIMESTAMP']}\n" for r in rows)
    arn = personalize.create_dataset_group(name=unique("auto"))["datasetGroupArn"]
    import_dataset(personalize, arn, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(path))
    return arn


@pytest.fixture(scope="module")
def stream(server, personalize, group):
    """Streams one new watch event into the group (PutEvents): the new data an automatic training needs."""
    tracker = personalize.create_event_tracker(name=unique("auto"), datasetGroupArn=group)
    wait_status(personalize.describe_event_tracker, "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
    events = server.client("personalize-events")

    def put() -> None:
        event = {"eventType": "watch", "itemId": f"i{random.randrange(40)}", "sentAt": time.time()}
        events.put_events(trackingId=tracker["trackingId"], userId="u1", sessionId="s1", eventList=[event])

    return put


def _solution(personalize, group: str, **members) -> str:
    return personalize.create_solution(
        name=unique("auto"), datasetGroupArn=group, recipeArn=RECIPE + "aws-popularity-count", **members
    )["solutionArn"]


def _due(control: Control, solution: str) -> list[str]:
    """The versions of ``solution`` that ``train_due`` on ``control`` started (other suites' solutions may be due)."""
    return [arn for arn in train_due(control) if arn.startswith(solution + "/")]


def _versions(personalize, solution: str) -> list[dict]:
    return personalize.list_solution_versions(solutionArn=solution)["solutionVersions"]


def _active(personalize, version: str) -> dict:
    done = wait_status(personalize.describe_solution_version, "solutionVersion", solutionVersionArn=version)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    return done


def test_automatic_training_is_on_by_default_every_7_days(personalize, group):
    solution = personalize.describe_solution(solutionArn=_solution(personalize, group))["solution"]
    assert solution["performAutoTraining"] is True
    assert solution["solutionConfig"]["autoTrainingConfig"] == {"schedulingExpression": "rate(7 days)"}


def test_schedule_trains_on_one_node_and_synced_campaigns_follow(server, personalize, group, stream):
    clock = ManualClock()
    config = {"autoTrainingConfig": {"schedulingExpression": "rate(2 days)"}}
    solution = _solution(personalize, group, solutionConfig=config)
    first, second = node(server, clock), node(server, clock)
    clock.advance(HOUR - 60)
    assert _due(first, solution) == [] and _versions(personalize, solution) == []
    clock.advance(120)  # the first automatic training is due an hour after creation
    created = [
        arn for arns in concurrently(lambda: _due(first, solution), lambda: _due(second, solution)) for arn in arns
    ]
    assert len(created) == 1 and [v["solutionVersionArn"] for v in _versions(personalize, solution)] == created
    version = _active(personalize, created[0])
    assert (version["trainingType"], version["trainingMode"]) == ("AUTOMATIC", "AUTOTRAIN")
    campaign = deploy(personalize, {"c": created[0]}, campaignConfig={"syncWithLatestSolutionVersion": True})["c"]

    clock.advance(2 * DAY - 120)
    assert _due(first, solution) == []
    clock.advance(120)
    stream()
    (newer,) = _due(second, solution)
    _active(personalize, newer)
    wait_until(
        lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"]["solutionVersionArn"] == newer,
        what="the synced campaign moving to the newest automatic version",
    )

    clock.advance(9 * DAY)  # no node ran for four slots: one training, then the schedule goes on from now
    stream()
    (caught_up,) = _due(first, solution)
    _active(personalize, caught_up)
    assert _due(first, solution) == []
    clock.advance(DAY)
    stream()
    assert len(_due(first, solution)) == 1


def test_a_slot_without_new_interactions_passes_without_training(server, personalize, group, stream):
    """As in Personalize: automatic training runs only on data imported or streamed since the last training."""
    clock = ManualClock()
    solution = _solution(
        personalize, group, solutionConfig={"autoTrainingConfig": {"schedulingExpression": "rate(1 day)"}}
    )
    clock.advance(HOUR + 60)
    (first,) = _due(node(server, clock), solution)  # never trained: the group's data is new to it
    _active(personalize, first)
    clock.advance(DAY)
    assert _due(node(server, clock), solution) == []  # nothing new: the slot passes
    assert len(_versions(personalize, solution)) == 1
    clock.advance(DAY)
    stream()
    (second,) = _due(node(server, clock), solution)
    assert _active(personalize, second)["trainingType"] == "AUTOMATIC"


def test_campaigns_deploy_solution_latest_and_follow_it(personalize, group):
    """Personalize's form for synced campaigns: solutionVersionArn SolutionArn/$LATEST (was ResourceNotFound)."""
    solution = _solution(personalize, group, performAutoTraining=False)
    synced = {"syncWithLatestSolutionVersion": True}
    with pytest.raises(ClientError) as err:  # nothing trained yet
        personalize.create_campaign(name=unique("c"), solutionVersionArn=solution + "/$LATEST", campaignConfig=synced)
    assert error_code(err) == "InvalidInputException" and "no ACTIVE solution version" in error_message(err)
    with pytest.raises(ClientError) as err:
        personalize.create_campaign(name=unique("c"), solutionVersionArn=solution + "-gone/$LATEST")
    assert error_code(err) == "ResourceNotFoundException"
    first = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    _active(personalize, first)
    campaign = personalize.create_campaign(
        name=unique("c"), solutionVersionArn=solution + "/$LATEST", campaignConfig=synced
    )["campaignArn"]
    assert wait_status(personalize.describe_campaign, "campaign", campaignArn=campaign)["solutionVersionArn"] == first
    second = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    _active(personalize, second)
    wait_until(
        lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"]["solutionVersionArn"] == second,
        what="the campaign following the newest version",
    )
    personalize.update_campaign(campaignArn=campaign, solutionVersionArn=solution + "/$LATEST", minProvisionedTPS=2)
    wait_until(
        lambda: (
            personalize.describe_campaign(campaignArn=campaign)["campaign"]["latestCampaignUpdate"]["status"]
            == "ACTIVE"
        ),
        what="the update",
    )
    assert personalize.describe_campaign(campaignArn=campaign)["campaign"]["solutionVersionArn"] == second


def test_a_manual_version_within_the_hour_skips_the_first_automatic_training(server, personalize, group, stream):
    clock = ManualClock()
    solution = _solution(
        personalize, group, solutionConfig={"autoTrainingConfig": {"schedulingExpression": "rate(1 day)"}}
    )
    manual = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    _active(personalize, manual)
    clock.advance(HOUR + 60)
    assert _due(node(server, clock), solution) == []
    clock.advance(DAY)
    stream()
    assert len(_due(node(server, clock), solution)) == 1


def test_update_solution_is_asynchronous_and_moves_the_schedule(server, personalize, group):
    clock = ManualClock()
    solution = _solution(personalize, group)
    personalize.update_solution(solutionArn=solution, performAutoTraining=False)
    update = personalize.describe_solution(solutionArn=solution)["solution"]["latestSolutionUpdate"]
    assert (
        update["status"] in ("CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE")
        and update["performAutoTraining"] is False
    )
    wait_until(lambda: _latest_update(personalize, solution)["status"] == "ACTIVE", what="the update applied")
    assert personalize.describe_solution(solutionArn=solution)["solution"]["performAutoTraining"] is False
    clock.advance(30 * DAY)
    assert not _due(node(server, clock), solution)

    later = {"autoTrainingConfig": {"schedulingExpression": "rate(3 days)"}}
    personalize.update_solution(solutionArn=solution, performAutoTraining=True, solutionUpdateConfig=later)
    wait_until(lambda: _latest_update(personalize, solution)["status"] == "ACTIVE", what="the update applied")
    described = personalize.describe_solution(solutionArn=solution)["solution"]
    assert described["solutionConfig"]["autoTrainingConfig"] == later["autoTrainingConfig"]
    back = ManualClock()  # the first automatic training is due an hour after the update
    back.advance(HOUR + 60)
    assert _due(node(server, back), solution)


def _latest_update(personalize, solution: str) -> dict:
    return personalize.describe_solution(solutionArn=solution)["solution"]["latestSolutionUpdate"]


@pytest.mark.parametrize("expression", ["rate(31 days)", "rate(0 days)"])
def test_schedules_out_of_range_are_refused(personalize, group, expression):
    with pytest.raises(ClientError) as err:
        _solution(personalize, group, solutionConfig={"autoTrainingConfig": {"schedulingExpression": expression}})
    assert error_code(err) == "InvalidInputException" and "schedulingExpression" in error_message(err)
    solution = _solution(personalize, group, performAutoTraining=False)
    with pytest.raises(ClientError) as err:
        personalize.update_solution(
            solutionArn=solution,
            performAutoTraining=True,
            solutionUpdateConfig={"autoTrainingConfig": {"schedulingExpression": expression}},
        )
    assert error_code(err) == "InvalidInputException" and "solutionUpdateConfig" in error_message(err)


def test_update_solution_refuses_events_config_next_best_action_does_not_train_with(personalize, group):
    """aws-next-best-action trains on action interactions: an eventsConfig update would be kept and ignored."""
    solution = personalize.create_solution(
        name=unique("nba"), datasetGroupArn=group, recipeArn=RECIPE + "aws-next-best-action", performAutoTraining=False
    )["solutionArn"]
    events = {"eventParametersList": [{"eventType": "click", "weight": 0.5}]}
    with pytest.raises(ClientError) as err:
        personalize.update_solution(solutionArn=solution, solutionUpdateConfig={"eventsConfig": events})
    assert error_code(err) == "InvalidInputException" and "solutionUpdateConfig.eventsConfig" in error_message(err)
    described = personalize.describe_solution(solutionArn=solution)["solution"]
    assert "latestSolutionUpdate" not in described and "eventsConfig" not in described.get("solutionConfig", {})


@pytest.mark.parametrize("expression", ["rate(1 day)", "rate(007 days)"])
def test_every_rate_botocore_allows_within_30_days_is_taken(personalize, group, expression):
    solution = _solution(
        personalize, group, solutionConfig={"autoTrainingConfig": {"schedulingExpression": expression}}
    )
    described = personalize.describe_solution(solutionArn=solution)["solution"]
    assert described["solutionConfig"]["autoTrainingConfig"]["schedulingExpression"] == expression


def test_schedule_survives_a_restart(server, personalize, group):
    """Last in this module: the restarted server listens on another port."""
    clock = ManualClock()
    solution = _solution(
        personalize, group, solutionConfig={"autoTrainingConfig": {"schedulingExpression": "rate(3 days)"}}
    )
    server.stop()
    server.start()
    personalize = server.client("personalize")  # the server listens on another port now
    clock.advance(HOUR + 60)
    (version,) = _due(node(server, clock), solution)
    _active(personalize, version)
