"""Notebook 03: solutions for user-personalization, SIMS and personalized-ranking; metrics."""

import json

from _common import client, restore, store, wait

state = restore()
personalize = client("personalize")
print([r["name"] for r in personalize.list_recipes()["recipes"]])
versions = {}
for key, recipe in (
    ("userpersonalization", "aws-user-personalization"),
    ("sims", "aws-sims"),
    ("rerank", "aws-personalized-ranking"),
):
    solution_arn = personalize.create_solution(
        name=f"personalize-poc-{key}",
        datasetGroupArn=state["dataset_group_arn"],
        recipeArn=f"arn:aws:personalize:::recipe/{recipe}",
    )["solutionArn"]
    versions[key] = personalize.create_solution_version(solutionArn=solution_arn)["solutionVersionArn"]
    store(**{f"{key}_solution_arn": solution_arn})
for key, arn in versions.items():
    version = wait(personalize.describe_solution_version, "solutionVersion", solutionVersionArn=arn)
    assert version["status"] == "ACTIVE", version.get("failureReason")
    print(key, json.dumps(personalize.get_solution_metrics(solutionVersionArn=arn)["metrics"], indent=2))
store(**{f"{key}_solution_version_arn": arn for key, arn in versions.items()})
