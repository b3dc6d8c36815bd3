"""The newer control-plane operations as boto3 users meet them (an outside probe's findings, over HTTP).

A dataset group that had a data deletion job could never be deleted: the finished job counted as a
dependent ("Delete them first"), and Personalize has no operation deleting a data deletion job.
DeleteDatasetGroup refused for its recommender named the recommender's internal training (an ARN no
operation knows) and the dataset's finished import job among what to "Delete first".
StopRecommender and StartRecommender on a recommender still being created said it "has an update in progress".
DescribeAlgorithm's algorithmImage lacked dockerURI, a member the model requires (SDKs with strict decoders, such as
amazonka, fail on it), and its name held a '/' its pattern does not allow.
DeleteDataset went through while a solution version of its group was training; Personalize documents "You can't
delete a dataset if an associated DatasetImportJob or SolutionVersion is in the CREATE PENDING or IN PROGRESS state".
CreateSolutionVersion and DeleteSolution refused for a version still training told the user to "Delete them first",
which no operation can do to a solution version.
UpdateDataset replaced the schema of an Interactions dataset and dropped a field's categorical attribute, both of
which Personalize's guidelines refuse ("You can't replace the schema of an Item interactions dataset, Action
interactions dataset or Actions dataset"; "you can't change their data types or attributes").
A domain dataset group took an aws-next-best-action solution and an ActionID filter, though "You can't create next
best action resources, including Actions and Action Interactions datasets, in a domain dataset group": the
solution could only fail to train.
TagResource and ListTagsForResource took the ARN of a recommender's internal training, a resource no other
operation knows.
A dataset group took any number of PENDING data deletion jobs; Personalize allows "up to 5 deletion jobs with a
status of PENDING for a dataset group" (checked on the control plane without a job runner: over HTTP the jobs
leave PENDING as soon as the runner claims them).
UpdateSolution's refusal of a bad eventsConfig named solutionConfig.eventsConfig..., a member CreateSolution has;
the request's is solutionUpdateConfig.
"""

from __future__ import annotations

import json
import random
import re

import pytest
from botocore.exceptions import ClientError

from helpers import RECIPE, ROLE, error_code, error_message, import_dataset, wait_until
from openpersonalize.control.base import Call, Control, Settings
from openpersonalize.control.kinds import RECOMMENDER_TRAINING
from openpersonalize.control.operations import OPERATIONS
from openpersonalize.data import movielens
from openpersonalize.errors import LimitExceededException
from openpersonalize.store.events import EventStore
from openpersonalize.store.metadata import MetadataStore
from server_harness import unique, wait_status


def _group_with_interactions(personalize) -> tuple[str, str]:
    """A new dataset group with an empty INTERACTIONS dataset; (group ARN, dataset ARN)."""
    group = personalize.create_dataset_group(name=unique("probe"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("probe"), schema=json.dumps(movielens.INTERACTIONS_SCHEMA))
    dataset = personalize.create_dataset(
        name=unique("probe"), datasetType="INTERACTIONS", datasetGroupArn=group, schemaArn=schema["schemaArn"]
    )["datasetArn"]
    return group, dataset


def test_a_group_whose_data_deletion_job_finished_can_be_deleted(server, personalize):
    group, dataset = _group_with_interactions(personalize)
    users = server.work / f"{unique('delete')}.csv"
    users.write_text("USER_ID\nu1\n")
    job = personalize.create_data_deletion_job(
        jobName=unique("delete"), datasetGroupArn=group, dataSource={"dataLocation": str(users)}, roleArn=ROLE
    )["dataDeletionJobArn"]

    def finished() -> bool:
        return personalize.describe_data_deletion_job(dataDeletionJobArn=job)["dataDeletionJob"]["status"] in (
            "COMPLETED",
            "FAILED",
        )

    wait_until(finished, what="the data deletion job's end")
    personalize.delete_dataset(datasetArn=dataset)
    personalize.delete_dataset_group(datasetGroupArn=group)
    with pytest.raises(ClientError) as err:
        personalize.describe_dataset_group(datasetGroupArn=group)
    assert error_code(err) == "ResourceNotFoundException"


@pytest.fixture(scope="module")
def vod_group(server, personalize) -> dict[str, str]:
    """A VIDEO_ON_DEMAND group with too few interactions to train (900) and a top-picks recommender on it."""
    rng = random.Random(1)
    rows = [f"u{u},i{rng.randrange(40)},watch,{1_600_000_000 + 100 * u + k}" for u in range(60) for k in range(15)]
    path = server.work / f"{unique('vod')}.csv"
    path.write_text("USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n" + "\n".join(rows) + "\n")
    group = personalize.create_dataset_group(name=unique("vod"), domain="VIDEO_ON_DEMAND")["datasetGroupArn"]
    dataset = import_dataset(
        personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(path), "VIDEO_ON_DEMAND"
    )
    recommender = personalize.create_recommender(
        name=unique("top"), datasetGroupArn=group, recipeArn=RECIPE + "aws-vod-top-picks"
    )["recommenderArn"]
    return {"group": group, "dataset": dataset, "recommender": recommender}


def test_stop_and_start_of_a_recommender_being_created_name_its_status(vod_group, personalize):
    for call in (personalize.stop_recommender, personalize.start_recommender):
        with pytest.raises(ClientError) as err:
            call(recommenderArn=vod_group["recommender"])
        assert error_code(err) == "ResourceInUseException"
        assert "is CREATE " in error_message(err) and "has an update" not in error_message(err), error_message(err)


def test_a_group_in_use_names_only_what_the_user_can_delete(vod_group, personalize):
    with pytest.raises(ClientError) as err:
        personalize.delete_dataset_group(datasetGroupArn=vod_group["group"])
    assert error_code(err) == "ResourceInUseException"
    message = error_message(err)
    assert vod_group["recommender"] in message and vod_group["dataset"] in message, message
    assert vod_group["recommender"] + "/" not in message, message  # its internal training
    assert "dataset-import-job/" not in message, message


def test_every_algorithm_image_has_what_the_model_requires(personalize):
    recipes = [r for page in personalize.get_paginator("list_recipes").paginate() for r in page["recipes"]]
    assert len(recipes) > 20
    for recipe in recipes:
        algorithm = personalize.describe_recipe(recipeArn=recipe["recipeArn"])["recipe"]["algorithmArn"]
        image = personalize.describe_algorithm(algorithmArn=algorithm)["algorithm"]["algorithmImage"]
        assert image.get("dockerURI"), (algorithm, image)
        assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9\-_]{0,62}", image["name"]), (algorithm, image)


def _training(server, personalize) -> tuple[str, str, str, str]:
    """A group of 1,200 clicks whose user-personalization solution has just started training a version:
    (group, dataset, solution, version)."""
    rows = [f"u{u},i{(u * 7 + k * k) % 30},click,{1_600_000_000 + 100 * u + k}" for u in range(60) for k in range(20)]
    path = server.work / f"{unique('training')}.csv"
    path.write_text("USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n" + "\n".join(rows) + "\n")
    group = personalize.create_dataset_group(name=unique("training"))["datasetGroupArn"]
    dataset = import_dataset(personalize, group, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(path))
    solution = personalize.create_solution(
        name=unique("training"), datasetGroupArn=group, recipeArn=RECIPE + "aws-user-personalization"
    )["solutionArn"]
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    return group, dataset, solution, version


def test_a_dataset_whose_group_is_training_cannot_be_deleted(server, personalize):
    _group, dataset, _solution, version = _training(server, personalize)
    with pytest.raises(ClientError) as err:
        personalize.delete_dataset(datasetArn=dataset)
    assert error_code(err) == "ResourceInUseException"
    assert version in error_message(err), error_message(err)
    wait_status(personalize.describe_solution_version, "solutionVersion", timeout=600, solutionVersionArn=version)
    personalize.delete_dataset(datasetArn=dataset)


def test_a_solution_training_a_version_says_to_wait_not_to_delete(server, personalize):
    _group, _dataset, solution, version = _training(server, personalize)
    for call in (
        lambda: personalize.create_solution_version(solutionArn=solution),
        lambda: personalize.delete_solution(solutionArn=solution),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert error_code(err) == "ResourceInUseException"
        assert version in error_message(err) and "Delete" not in error_message(err), error_message(err)
    personalize.stop_solution_version_creation(solutionVersionArn=version)


def _schema(personalize, schema: dict) -> str:
    return personalize.create_schema(name=unique("probe"), schema=json.dumps(schema))["schemaArn"]


def test_update_dataset_keeps_interactions_schemas_and_field_attributes(personalize):
    group, interactions = _group_with_interactions(personalize)
    wider = {**movielens.INTERACTIONS_SCHEMA}
    wider["fields"] = [*wider["fields"], {"name": "DEVICE", "type": ["null", "string"], "categorical": True}]
    with pytest.raises(ClientError) as err:
        personalize.update_dataset(datasetArn=interactions, schemaArn=_schema(personalize, wider))
    assert error_code(err) == "InvalidInputException" and "INTERACTIONS" in error_message(err), error_message(err)

    items = personalize.create_dataset(
        name=unique("probe"),
        datasetType="ITEMS",
        datasetGroupArn=group,
        schemaArn=_schema(personalize, movielens.ITEMS_SCHEMA),
    )["datasetArn"]
    plain_genre = {**movielens.ITEMS_SCHEMA}
    plain_genre["fields"] = [{k: v for k, v in f.items() if k != "categorical"} for f in plain_genre["fields"]]
    with pytest.raises(ClientError) as err:
        personalize.update_dataset(datasetArn=items, schemaArn=_schema(personalize, plain_genre))
    assert error_code(err) == "InvalidInputException" and "GENRE" in error_message(err), error_message(err)
    assert personalize.describe_dataset(datasetArn=items)["dataset"].get("latestDatasetUpdate") is None


def test_a_domain_group_takes_no_next_best_action_resources(vod_group, personalize):
    with pytest.raises(ClientError) as err:
        personalize.create_solution(
            name=unique("nba"), datasetGroupArn=vod_group["group"], recipeArn=RECIPE + "aws-next-best-action"
        )
    assert error_code(err) == "InvalidInputException" and "recipeArn" in error_message(err), error_message(err)
    with pytest.raises(ClientError) as err:
        personalize.create_filter(
            name=unique("nba"),
            datasetGroupArn=vod_group["group"],
            filterExpression='EXCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ("Taken")',
        )
    assert error_code(err) == "InvalidInputException" and "filterExpression" in error_message(err), error_message(err)


def test_an_internal_training_is_no_taggable_resource(server, vod_group, personalize):
    store = MetadataStore(server.database_url or f"sqlite:///{server.data_dir.resolve() / 'metadata.db'}")
    try:
        trainings = store.children(vod_group["recommender"], (RECOMMENDER_TRAINING,))
    finally:
        store.engine.dispose()
    assert trainings
    for call in (
        lambda arn: personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "k", "tagValue": "v"}]),
        lambda arn: personalize.list_tags_for_resource(resourceArn=arn),
        lambda arn: personalize.untag_resource(resourceArn=arn, tagKeys=["k"]),
    ):
        with pytest.raises(ClientError) as err:
            call(trainings[0].arn)
        assert error_code(err) == "ResourceNotFoundException"


def test_a_group_holds_at_most_five_pending_data_deletion_jobs(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    control = Control(Settings(data_dir=tmp_path), store, EventStore(store))

    def call(operation: str, **params) -> dict:
        return OPERATIONS[operation](Call(control, "eu-west-3", params))

    try:
        group = call("CreateDatasetGroup", name="deletions")["datasetGroupArn"]
        source = {"dataLocation": "s3://bucket/users.csv"}
        jobs = [
            call("CreateDataDeletionJob", jobName=f"delete-{n}", datasetGroupArn=group, dataSource=source, roleArn=ROLE)
            for n in range(5)
        ]
        with pytest.raises(LimitExceededException) as err:
            call("CreateDataDeletionJob", jobName="delete-5", datasetGroupArn=group, dataSource=source, roleArn=ROLE)
        assert "5" in str(err.value) and "PENDING" in str(err.value)
        store.update(jobs[0]["dataDeletionJobArn"], status="IN_PROGRESS")  # a runner claimed one
        call("CreateDataDeletionJob", jobName="delete-5", datasetGroupArn=group, dataSource=source, roleArn=ROLE)
    finally:
        store.engine.dispose()


def test_update_solution_refusals_name_the_update_member(personalize):
    group, _dataset = _group_with_interactions(personalize)
    solution = personalize.create_solution(
        name=unique("probe"), datasetGroupArn=group, recipeArn=RECIPE + "aws-user-personalization"
    )["solutionArn"]
    twice = [{"eventType": "click", "weight": 0.5}, {"eventType": "click", "weight": 0.3}]
    with pytest.raises(ClientError) as err:
        personalize.update_solution(
            solutionArn=solution, solutionUpdateConfig={"eventsConfig": {"eventParametersList": twice}}
        )
    assert error_code(err) == "InvalidInputException"
    assert "solutionUpdateConfig.eventsConfig.eventParametersList" in error_message(err), error_message(err)
