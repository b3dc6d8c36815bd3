"""aws-next-best-action: the actions a user is most likely to take within the action optimization period.

A multi-output ridge regression (a linear probability model) from a user's state — the items they
interacted with and the actions they took, declined or viewed — to the actions they take within
``action_optimization_period`` days, fitted on every Taken event of the training data
(``ActionTrainingData.examples``). Its intercept is each action's base rate, so without action
interactions every score is 0, as in Personalize. Scores are propensities clipped to [0, 1].
The artifact also keeps each training user's state, so the runtime adds only live events.

As Personalize documents, only an action with at least 50 Taken and 50 Not Taken or Viewed
interactions in the six weeks before the newest one gets a score; the others score 0. Which actions
may be recommended (expiry, repeat frequency) and the VALUE tie-break are the runtime's
(``data/actions.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from openpersonalize.data.action_training import KIND_CODES, ActionTrainingData
from openpersonalize.data.actions import DAY_SECONDS, EVENT_KINDS, event_kind
from openpersonalize.data.training_data import TrainingData, UserHistory
from openpersonalize.recipes.artifacts import Artifact, read_artifact, write_artifact
from openpersonalize.recipes.base import param
from openpersonalize.recipes.protocol import Model, Recipe
from openpersonalize.recipes.registry import NEXT_BEST_ACTION_ARN

_DATA_ARRAYS = (
    "action_ids",
    "feature_items",
    "user_ids",
    "item_ptr",
    "item_feats",
    "item_ts",
    "action_ptr",
    "action_pos",
    "action_kind",
    "action_ts",
)


def fit_weights(
    data: ActionTrainingData, period_seconds: float, ridge: float, until: float = np.inf
) -> tuple[np.ndarray, np.ndarray]:
    """(weights n_features x n_actions, intercept n_actions) of the ridge fit on examples before ``until``."""
    n_f, n_a = data.n_features, data.n_actions
    rows, cols, targets_r, targets_c = [], [], [], []
    n = 0
    for example in data.examples(period_seconds, until=until):
        rows.append(np.full(len(example.features), n))
        cols.append(example.features)
        targets_r.append(np.full(len(example.targets), n))
        targets_c.append(example.targets)
        n += 1
    if n == 0 or n_a == 0:
        return np.zeros((n_f, n_a), np.float32), np.zeros(n_a, np.float32)
    x = sp.csr_matrix(
        (np.ones(sum(map(len, cols)), np.float64), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n_f)
    )
    y = sp.csr_matrix(
        (np.ones(sum(map(len, targets_c)), np.float64), (np.concatenate(targets_r), np.concatenate(targets_c))),
        shape=(n, n_a),
    )
    x_mean = np.asarray(x.mean(axis=0)).ravel()
    y_mean = np.asarray(y.mean(axis=0)).ravel()
    gram = (x.T @ x).toarray() - n * np.outer(x_mean, x_mean)
    cross = (x.T @ y).toarray() - n * np.outer(x_mean, y_mean)
    gram[np.diag_indices_from(gram)] += ridge
    weights = np.linalg.solve(gram, cross)
    intercept = y_mean - x_mean @ weights
    return weights.astype(np.float32), intercept.astype(np.float32)


class NextBestActionModel(Model):
    """Ridge weights over user states; ``item_ids`` are the actions it scores."""

    kind: ClassVar[str] = "next-best-action"

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.arrays, self.meta = arrays, meta
        self._data = ActionTrainingData(**{name: arrays[name] for name in _DATA_ARRAYS})
        self._action_index = {str(a): i for i, a in enumerate(arrays["action_ids"].tolist())}
        self._feature_index = {str(i): f for f, i in enumerate(arrays["feature_items"].tolist())}
        self._user_index = {str(u): i for i, u in enumerate(arrays["user_ids"].tolist())}

    @classmethod
    def trained(
        cls, data: ActionTrainingData, params: dict[str, Any], period_days: float, ridge: float, until: float = np.inf
    ) -> NextBestActionModel:
        """Fitted on the Taken events before ``until``; it keeps every user's whole state for serving."""
        weights, intercept = fit_weights(data, period_days * DAY_SECONDS, ridge, until)
        arrays = {
            "scored": data.scored_actions(until),
            "action_ids": np.asarray(data.action_ids, dtype=str),
            "feature_items": np.asarray(data.feature_items, dtype=str),
            "user_ids": np.asarray(data.user_ids, dtype=str),
            "weights": weights,
            "intercept": intercept,
            **{name: getattr(data, name) for name in _DATA_ARRAYS[3:]},
        }
        return cls(arrays, {"recipe_arn": NEXT_BEST_ACTION_ARN, "params": {k: str(v) for k, v in params.items()}})

    # -- what the runtime asks of an action model --------------------------------
    @property
    def action_index(self) -> dict[str, int]:
        """ACTION_ID -> the model's action position."""
        return self._action_index

    def state(
        self, user_id: str | None, live_items: Iterable[str], live_actions: Iterable[tuple[str, float, str]]
    ) -> tuple[np.ndarray, list[tuple[str, float]]]:
        """A user's feature indices (training state plus live item ids and live (action, time, event type)),
        and every (action id, time) they took."""
        feats: set[int] = set()
        taken: list[tuple[str, float]] = []
        u = self._user_index.get(str(user_id)) if user_id else None
        if u is not None:
            trained, trained_taken = self._data.user_state(u, np.inf)
            feats.update(trained.tolist())
            ids = self.arrays["action_ids"]
            taken += [(str(ids[pos]), stamp) for pos, stamp in trained_taken]
        feats.update(f for f in (self._feature_index.get(i) for i in live_items) if f is not None)
        for action_id, stamp, event_type in live_actions:
            kind = event_kind(event_type)
            pos = self._action_index.get(action_id)
            if kind is None:
                continue
            if kind == "TAKEN":
                taken.append((action_id, float(stamp)))
            if pos is not None:
                feats.add(self._data.action_feature(pos, KIND_CODES[kind]))
        return np.fromiter(sorted(feats), np.int64, len(feats)), taken

    def action_events(self, user_id: str) -> list[tuple[str, float, str]]:
        """The user's training action interactions: (action id, time, TAKEN / NOT_TAKEN / VIEWED)."""
        u = self._user_index.get(str(user_id))
        if u is None:
            return []
        lo, hi = self.arrays["action_ptr"][u], self.arrays["action_ptr"][u + 1]
        ids = self.arrays["action_ids"]
        return [
            (str(ids[pos]), float(stamp), EVENT_KINDS[kind])
            for pos, kind, stamp in zip(
                self.arrays["action_pos"][lo:hi].tolist(),
                self.arrays["action_kind"][lo:hi].tolist(),
                self.arrays["action_ts"][lo:hi].tolist(),
                strict=True,
            )
        ]

    def propensities(self, features: np.ndarray) -> np.ndarray:
        """Each action's score for a user in this state, in [0, 1]; 0 for an action with too few recent
        interactions to be scored (``ActionTrainingData.scored_actions``)."""
        weights = self.arrays["weights"]
        raw = self.arrays["intercept"] + (weights[features].sum(axis=0) if len(features) else 0.0)
        return (np.clip(raw, 0.0, 1.0) * self.arrays["scored"]).astype(np.float32)

    # -- the Model protocol --------------------------------------------------------
    @property
    def n_items(self) -> int:
        return len(self._action_index)

    @property
    def item_ids(self) -> np.ndarray:
        return self.arrays["action_ids"]

    @property
    def user_ids(self) -> np.ndarray:
        return self.arrays["user_ids"]

    @property
    def item_index(self) -> dict[str, int]:
        return self._action_index

    def training_history(self, user_id: str) -> UserHistory:
        """The user's training state as a history of feature indices."""
        features, _ = self.state(user_id, (), ())
        return UserHistory(features, user=self._user_index.get(str(user_id), -1))

    def popularity_scores(self) -> np.ndarray:
        return self.propensities(np.zeros(0, np.int64))

    def score_user(self, history: UserHistory, context: dict[str, Any] | None = None) -> np.ndarray:
        """Propensities for a history of feature indices (``state``)."""
        return self.propensities(np.asarray(history.items, np.int64))

    def score_item(self, item_index: int) -> np.ndarray:
        """How having taken action ``item_index`` moves each action's propensity."""
        n_items = len(self.arrays["feature_items"])
        return np.asarray(self.arrays["weights"][n_items + item_index], np.float32)

    def save(self, dir: Path) -> None:
        write_artifact(dir, type(self), self.kind, Artifact(self.arrays, {}, self.meta))

    @classmethod
    def load(cls, dir: Path, mmap: bool = True) -> NextBestActionModel:
        artifact = read_artifact(dir, mmap)
        return cls(artifact.arrays, artifact.meta)


class NextBestActionRecipe(Recipe):
    """Recipe object for aws-next-best-action; trains on ``ActionTrainingData`` (``fit_actions``)."""

    arn = NEXT_BEST_ACTION_ARN

    def fit_actions(
        self, data: ActionTrainingData, params: dict[str, Any] | None = None, until: float = np.inf
    ) -> NextBestActionModel:
        """The ridge fit (on Taken events before ``until``) with the ``action_optimization_period`` and
        ``ridge_lambda`` hyperparameters."""
        params = self.hyperparameters(params)
        period = param(params, "action_optimization_period")
        if not 1 <= period <= 365:
            raise ValueError(f"Hyperparameter action_optimization_period={period} must be between 1 and 365 days.")
        return NextBestActionModel.trained(data, params, period, param(params, "ridge_lambda"), until)

    def fit(self, data: TrainingData, params: dict[str, Any] | None = None, seed: int = 0) -> Model:
        """Item interactions alone cannot train it: the training job calls ``fit_actions``."""
        raise ValueError("aws-next-best-action trains on the Actions and Action interactions datasets.")
