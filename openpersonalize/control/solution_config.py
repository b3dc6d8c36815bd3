"""CreateSolution's checks of the solutionConfig fields that choose what trains and how it ranks.

Each is refused here with InvalidInputException naming the member, so a solution that is accepted
trains: the selection fields are parsed by the same ``TrainingSelection`` the training job applies.
"""

from __future__ import annotations

from typing import Any

from ..data.training_selection import TrainingSelection
from ..errors import InvalidInputException
from ..recipes.registry import PERSONALIZED_RANKING, USER_PERSONALIZATION, RecipeInfo


def check_training_config(
    recipe: RecipeInfo, event_type: str | None, config: dict[str, Any], member: str = "solutionConfig"
) -> None:
    """InvalidInputException naming the first member of ``config`` (the request's ``member``) ``recipe`` cannot
    train with."""
    try:
        TrainingSelection.from_solution(event_type, config, member)
    except ValueError as exc:
        raise InvalidInputException(str(exc)) from None
    known = recipe.default_feature_transformation_parameters
    for name in config.get("featureTransformationParameters") or {}:
        if name not in known:
            takes = f"takes {', '.join(sorted(known))}" if known else "takes none"
            raise InvalidInputException(
                f"solutionConfig.featureTransformationParameters: {name!r} is not a parameter of {recipe.name} "
                f"({recipe.name} {takes})."
            )
    objective = config.get("optimizationObjective")
    if objective:
        if recipe.recipe_type not in (USER_PERSONALIZATION, PERSONALIZED_RANKING):
            raise InvalidInputException(
                f"solutionConfig.optimizationObjective: {recipe.name} is a {recipe.recipe_type} recipe; an objective "
                "applies to USER_PERSONALIZATION and PERSONALIZED_RANKING recipes."
            )
        if not objective.get("itemAttribute"):
            raise InvalidInputException("solutionConfig.optimizationObjective.itemAttribute is required.")
