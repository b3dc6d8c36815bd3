"""itemExplorationConfig, the exploration settings campaigns and recommenders share: checked in one place."""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..errors import InvalidInputException

KEYS = ("explorationWeight", "explorationItemAgeCutOff")


def check_exploration(exploration: Mapping[str, str], member: str) -> None:
    """Only Personalize's two keys, each a finite number: explorationWeight in [0, 1], explorationItemAgeCutOff
    (days) above 0; InvalidInputException naming ``member``'s key otherwise (an unknown key would be ignored)."""
    for key, value in exploration.items():
        if key not in KEYS:
            raise InvalidInputException(f"{member}.{key} is not an exploration setting (give {' or '.join(KEYS)}).")
        try:
            number = float(value)
        except ValueError:
            raise InvalidInputException(f"{member}.{key} must be a number.") from None
        if not math.isfinite(number):
            raise InvalidInputException(f"{member}.{key} must be a finite number.")
        if key == "explorationWeight" and not 0.0 <= number <= 1.0:
            raise InvalidInputException(f"{member}.explorationWeight must be in [0, 1].")
        if key == "explorationItemAgeCutOff" and number <= 0.0:
            raise InvalidInputException(f"{member}.explorationItemAgeCutOff must be a number of days above 0.")
