"""The recipe catalogue as Personalize lists it (ListRecipes, DescribeRecipe)."""

from __future__ import annotations

from typing import Any

from ..errors import ResourceNotFoundException
from ..recipes.registry import RecipeInfo, all_recipes, get_recipe
from .base import ACTIVE, Call, paginate_items

# The catalogue is part of the release, not user data: one fixed creation time.
CATALOGUE_TIME = 1_700_000_000.0


def recipe_doc(info: RecipeInfo) -> dict[str, Any]:
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
    }


def require_recipe(arn: str) -> RecipeInfo:
    info = get_recipe(arn)
    if info is None:
        raise ResourceNotFoundException(f"Recipe {arn} does not exist.")
    return info


def list_recipes(call: Call) -> dict[str, Any]:
    page, token = paginate_items(call, [recipe_doc(r) for r in all_recipes()], "recipe")
    return {"recipes": page, "nextToken": token}


def describe_recipe(call: Call) -> dict[str, Any]:
    return {"recipe": recipe_doc(require_recipe(call.params["recipeArn"]))}


OPERATIONS = {"ListRecipes": list_recipes, "DescribeRecipe": describe_recipe}
