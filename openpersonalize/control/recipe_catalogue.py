"""The recipe catalogue as Personalize shows it: recipes, their algorithms and feature transformations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InvalidInputException, ResourceNotFoundException
from ..recipes.registry import RecipeInfo, all_recipes, get_recipe
from .base import ACTIVE, Call, paginate_items

# The catalogue is part of the release, not user data: one fixed creation time.
CATALOGUE_TIME = 1_700_000_000.0


def recipe_doc(info: RecipeInfo) -> dict[str, Any]:
    """DescribeRecipe's document (ListRecipes' summary adds the domain of a domain recipe)."""
    return {
        "name": info.name,
        "recipeArn": info.arn,
        "algorithmArn": info.algorithm_arn,
        "featureTransformationArn": info.feature_transformation_arn,
        "status": ACTIVE,
        "description": info.description,
        "recipeType": info.recipe_type,
        "creationDateTime": CATALOGUE_TIME,
        "lastUpdatedDateTime": CATALOGUE_TIME,
        "domain": info.domain,
    }


def require_recipe(arn: str) -> RecipeInfo:
    info = get_recipe(arn)
    if info is None:
        raise ResourceNotFoundException(f"Recipe {arn} does not exist.")
    return info


def require_custom_recipe(arn: str) -> RecipeInfo:
    """A recipe a solution may use: a domain recipe belongs to recommenders (CreateRecommender)."""
    info = require_recipe(arn)
    if info.domain is not None:
        raise InvalidInputException(
            f"recipeArn: {arn} is a {info.domain} domain recipe; use it with CreateRecommender, not CreateSolution."
        )
    return info


def list_recipes(call: Call) -> dict[str, Any]:
    """Every recipe, or those of ``domain`` (all are SERVICE recipes, the one recipeProvider)."""
    domain = call.params.get("domain")
    recipes = [r for r in all_recipes() if domain is None or r.domain == domain]
    page, token = paginate_items(call, [recipe_doc(r) for r in recipes], f"recipe/{domain}")
    return {"recipes": page, "nextToken": token}


def describe_recipe(call: Call) -> dict[str, Any]:
    return {"recipe": recipe_doc(require_recipe(call.params["recipeArn"]))}


def _recipe_with(arn: str, part: Callable[[RecipeInfo], str], label: str) -> RecipeInfo:
    """The recipe whose ``part`` (algorithm or feature transformation ARN) is ``arn``."""
    for recipe in all_recipes():
        if part(recipe) == arn:
            return recipe
    raise ResourceNotFoundException(f"{label} {arn} does not exist.")


def describe_algorithm(call: Call) -> dict[str, Any]:
    arn = call.params["algorithmArn"]
    recipe = _recipe_with(arn, lambda r: r.algorithm_arn, "Algorithm")
    name = arn.rsplit("/", 1)[-1]
    return {
        "algorithm": {
            "name": name,
            "algorithmArn": arn,
            "algorithmImage": {"name": name, "dockerURI": f"openpersonalize/{name}"},  # dockerURI is required
            "defaultHyperParameters": recipe.default_hyperparameters,
            "defaultHyperParameterRanges": recipe.hpo_ranges,
            "defaultResourceConfig": {"maxNumberOfTrainingJobs": "20", "maxParallelTrainingJobs": "1"},
            "trainingInputMode": "File",
            "creationDateTime": CATALOGUE_TIME,
            "lastUpdatedDateTime": CATALOGUE_TIME,
        }
    }


def describe_feature_transformation(call: Call) -> dict[str, Any]:
    arn = call.params["featureTransformationArn"]
    recipe = _recipe_with(arn, lambda r: r.feature_transformation_arn, "Feature transformation")
    return {
        "featureTransformation": {
            "name": arn.rsplit("/", 1)[-1],
            "featureTransformationArn": arn,
            "defaultParameters": recipe.default_feature_transformation_parameters,
            "status": ACTIVE,
            "creationDateTime": CATALOGUE_TIME,
            "lastUpdatedDateTime": CATALOGUE_TIME,
        }
    }


OPERATIONS = {
    "ListRecipes": list_recipes,
    "DescribeRecipe": describe_recipe,
    "DescribeAlgorithm": describe_algorithm,
    "DescribeFeatureTransformation": describe_feature_transformation,
}
