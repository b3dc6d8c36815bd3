"""The recipe contract: what training, the runtime and batch jobs may call on a recipe and its model.

A ``Recipe`` fits a ``Model`` from ``TrainingData``; a ``Model`` scores items for a user's
history (``score_user``) or for an item (``score_item``, related items) and saves itself as an
artifact (``recipes/artifacts.py``). Optional capabilities are declared by class flags, each
with a default method, so callers read the flag instead of probing for the method:

- ``has_ranking_head``: ``best_items`` can return the head of ``score_user``'s ranking without
  scoring the whole catalogue (the default returns None: score the whole row);
- ``updates_incrementally``: ``updated`` re-indexes the model onto new data without refitting
  (trainingMode UPDATE); without it, UPDATE refits with the previous parameters;
- ``explains``: ``explain`` breaks one item's ``score_user`` score into its terms (the history
  items that contributed most, and global terms such as popularity), so a user can see why an
  item was recommended (the console shows them).

The runtime owns filtering, exclusion, top-k and id mapping, so every model gets them for free.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from openpersonalize.data.training_data import TrainingData, UserHistory
from openpersonalize.recipes.registry import RecipeInfo, get_recipe


@dataclass(frozen=True)
class Contribution:
    """One term of an item's score: a history item's part (``item``: its index) or a global one (``item`` None).

    ``term`` names the part of the model it comes from (e.g. "item-item", "co-occurrence", "popularity");
    ``value`` is on the model's own scoring scale, so values of one explanation compare with each other.
    """

    term: str
    value: float
    item: int | None = None


class Model(ABC):
    """A trained model: item scores for a history or an item, over a fixed item index."""

    kind: ClassVar[str]
    has_ranking_head: ClassVar[bool] = False
    updates_incrementally: ClassVar[bool] = False
    explains: ClassVar[bool] = False

    @property
    @abstractmethod
    def n_items(self) -> int:
        """Number of items the model scores."""

    @property
    @abstractmethod
    def item_ids(self) -> np.ndarray:
        """Item index -> ITEM_ID."""

    @property
    @abstractmethod
    def user_ids(self) -> np.ndarray:
        """Training user index -> USER_ID."""

    @property
    @abstractmethod
    def item_index(self) -> dict[str, int]:
        """ITEM_ID -> item index."""

    @abstractmethod
    def training_history(self, user_id: str) -> UserHistory:
        """The user's history as of training (empty for unknown users)."""

    @abstractmethod
    def popularity_scores(self) -> np.ndarray:
        """Popularity in [0, 1] per item (the cold-start fallback); a fresh copy the caller may change."""

    @abstractmethod
    def score_user(self, history: UserHistory, context: dict[str, Any] | None = None) -> np.ndarray:
        """One score per item for a user with this history (higher is better)."""

    @abstractmethod
    def score_item(self, item_index: int) -> np.ndarray:
        """One score per item: how related each is to the given item."""

    def score_users(self, histories: list[UserHistory], context: dict[str, Any] | None = None) -> np.ndarray:
        """Scores for a block of users (n_users x n_items): their ``score_user`` rows, stacked."""
        rows = [np.asarray(self.score_user(h, context)) for h in histories]
        if not rows:
            return np.zeros((0, self.n_items), np.float32)
        return np.stack(rows)

    def exploration_items(self, context: dict[str, Any] | None) -> np.ndarray | None:
        """The items ``score_user`` lifts by item exploration for this context, as a mask (None: none)."""
        return None

    def best_items(
        self, history: UserHistory, context: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The head of ``score_user``'s ranking (item indices, scores) when ``has_ranking_head``; else None."""
        return None

    def explain(self, history: UserHistory, item_index: int, k: int = 3) -> list[Contribution]:
        """The ``k`` history items adding most to ``score_user(history)[item_index]``, then the global terms;
        only when ``explains``."""
        raise NotImplementedError(f"{type(self).__name__} does not explain its scores.")

    def updated(self, data: TrainingData) -> Model:
        """This model re-indexed onto ``data`` without refitting; only when ``updates_incrementally``."""
        raise NotImplementedError(f"{type(self).__name__} does not update incrementally; refit it.")

    @abstractmethod
    def save(self, dir: Path) -> None:
        """Write the model as an artifact into ``dir``."""

    @classmethod
    @abstractmethod
    def load(cls, dir: Path, mmap: bool = True) -> Model:
        """Read an artifact written by ``save`` (arrays memory-mapped read-only when ``mmap``)."""


class Recipe(ABC):
    """A Personalize recipe: fits a ``Model``; its ARN names its catalogue entry (``registry.py``)."""

    arn: ClassVar[str]

    @property
    def info(self) -> RecipeInfo:
        """This recipe's catalogue entry."""
        info = get_recipe(self.arn)
        if info is None:
            raise LookupError(f"Recipe {self.arn} is not in the catalogue.")
        return info

    @property
    def recipe_type(self) -> str:
        """USER_PERSONALIZATION, RELATED_ITEMS, PERSONALIZED_RANKING or USER_SEGMENTATION."""
        return self.info.recipe_type

    @property
    def default_hyperparameters(self) -> dict[str, str]:
        """The catalogue's defaults (what DescribeRecipe shows), a fresh copy."""
        return dict(self.info.default_hyperparameters)

    def hyperparameters(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """The given hyperparameters over the catalogue's defaults (what a model trains with and records)."""
        return {**self.default_hyperparameters, **(params or {})}

    @abstractmethod
    def fit(self, data: TrainingData, params: dict[str, Any] | None = None, seed: int = 0) -> Model:
        """Train on ``data``; ``params`` override the defaults; ``seed`` fixes every random choice."""


def make_recipe(info: RecipeInfo) -> Recipe:
    """The recipe object a catalogue entry names, its module imported on first use."""
    module, _, name = info.recipe_class.partition(":")
    cls: type[Recipe] = getattr(importlib.import_module(f"openpersonalize.recipes.{module}"), name)
    return cls()
