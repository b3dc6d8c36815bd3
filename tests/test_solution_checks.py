"""CreateSolution / CreateSolutionVersion refuse what Personalize refuses, naming the member.

* trainingMode UPDATE: botocore's CreateSolutionVersion.trainingMode documents it only for solutions of
  the User-Personalization recipe (or the legacy HRNN-Coldstart); every other recipe trained an UPDATE.
* algorithmHyperParameters outside the recipe's documented range (DescribeRecipe's algorithm
  defaultHyperParameterRanges, recipes/registry.py) were checked only for aws-next-best-action.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from helpers import RECIPE, error_code, error_message, import_dataset
from openpersonalize.data import movielens
from server_harness import unique, wait_status


@pytest.fixture(scope="module")
def group(server, personalize) -> str:
    rows = [f"u{u},i{(u * 7 + n) % 40},watch,{1_700_000_000 + u * 100 + n}" for u in range(100) for n in range(12)]
    csv = server.work / f"{unique('checks')}.csv"
    csv.write_text("USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n" + "\n".join(rows) + "\n")
    arn = personalize.create_dataset_group(name=unique("checks"))["datasetGroupArn"]
    wait_status(personalize.describe_dataset_group, "datasetGroup", datasetGroupArn=arn)
    import_dataset(personalize, arn, "INTERACTIONS", movielens.INTERACTIONS_SCHEMA, str(csv))
    return arn


def test_update_training_is_refused_for_other_recipes(personalize, group) -> None:
    solution = personalize.create_solution(
        name=unique("pop"), datasetGroupArn=group, recipeArn=RECIPE + "aws-popularity-count", performAutoTraining=False
    )["solutionArn"]
    full = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    done = wait_status(personalize.describe_solution_version, "solutionVersion", solutionVersionArn=full)
    assert done["status"] == "ACTIVE", done.get("failureReason")
    with pytest.raises(ClientError) as err:
        personalize.create_solution_version(solutionArn=solution, trainingMode="UPDATE")
    assert error_code(err) == "InvalidInputException"
    assert "trainingMode" in error_message(err) and "aws-user-personalization" in error_message(err)


@pytest.mark.parametrize(
    ("recipe", "name", "value", "range_text"),
    [
        ("aws-user-personalization", "hidden_dimension", "4096", "from 32 to 256"),
        ("aws-user-personalization-v2", "recency_floor", "1.5", "from 0 to 1"),
        ("aws-sims", "popularity_discount_factor", "-0.1", "from 0 to 1"),
        ("aws-sims", "min_cointeraction_count", "11", "from 0 to 10"),
    ],
)
def test_hyperparameters_outside_their_range_are_refused(personalize, group, recipe, name, value, range_text) -> None:
    with pytest.raises(ClientError) as err:
        personalize.create_solution(
            name=unique("bad"),
            datasetGroupArn=group,
            recipeArn=RECIPE + recipe,
            solutionConfig={"algorithmHyperParameters": {name: value}},
        )
    assert error_code(err) == "InvalidInputException"
    assert f"algorithmHyperParameters.{name}" in error_message(err) and range_text in error_message(err)


@pytest.mark.parametrize(
    ("recipe", "name", "value"),
    [
        ("aws-user-personalization", "hidden_dimension", "256"),
        ("aws-user-personalization-v2", "recency_floor", "0"),
        ("aws-sims", "min_cointeraction_count", "10"),
    ],
)
def test_hyperparameters_at_their_bounds_are_taken(personalize, group, recipe, name, value) -> None:
    config = {"algorithmHyperParameters": {name: value}}
    created = personalize.create_solution(
        name=unique("edge"), datasetGroupArn=group, recipeArn=RECIPE + recipe, solutionConfig=config
    )["solutionArn"]
    described = personalize.describe_solution(solutionArn=created)["solution"]["solutionConfig"]
    assert described["algorithmHyperParameters"] == {name: value}
