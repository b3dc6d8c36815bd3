"""itemExplorationConfig, the exploration settings campaigns and recommenders share: checked in one place."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import InvalidInputException


def check_exploration(exploration: Mapping[str, str], member: str) -> None:
    """Every value a number, explorationWeight in [0, 1]; InvalidInputException naming ``member``'s key otherwise."""
    for key, value in exploration.items():
        try:
            number = float(value)
        except ValueError:
            raise InvalidInputException(f"{member}.{key} must be a number.") from None
        if key == "explorationWeight" and not 0.0 <= number <= 1.0:
            raise InvalidInputException(f"{member}.explorationWeight must be in [0, 1].")
