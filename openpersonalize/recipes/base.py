"""Shared model machinery: ids, histories, popularity, cold start and item exploration, so every
recipe family behaves the same at runtime; artifacts are written and read by ``artifacts.py``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from openpersonalize.data.training_data import TrainingData, UserHistory
from openpersonalize.recipes.artifacts import Artifact, read_artifact, write_artifact
from openpersonalize.recipes.kernels import history_stats, rank_weights
from openpersonalize.recipes.protocol import Model
from openpersonalize.recipes.registry import get_recipe

DAY = 86_400.0


def param(params: dict[str, Any], name: str, kind: type = float) -> Any:
    """Read a hyperparameter given as a string (Personalize passes strings); ``params`` hold the defaults too."""
    if name not in params:
        raise LookupError(f"Hyperparameter {name} has neither a value nor a catalogue default.")
    value = params[name]
    if kind is bool:
        return str(value).strip().lower() in ("1", "true", "yes", "on")
    try:
        return kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Hyperparameter {name}={value!r} is not a valid {kind.__name__}.") from exc


def exploration_config(context: dict[str, Any] | None) -> tuple[float, float, float | None]:
    """(explorationWeight, explorationItemAgeCutOff days, now) from a scoring context.

    Accepts ``{"itemExplorationConfig": {...}}`` (campaign config shape) or flat keys.
    """
    if not context:
        return 0.0, 30.0, None
    cfg = dict(context.get("itemExplorationConfig") or {})
    for key in ("explorationWeight", "explorationItemAgeCutOff"):
        if key in context:
            cfg[key] = context[key]
    weight = float(cfg.get("explorationWeight", 0.0) or 0.0)
    cutoff = float(cfg.get("explorationItemAgeCutOff", 30.0) or 30.0)
    now = context.get("now")
    return min(max(weight, 0.0), 1.0), cutoff, None if now is None else float(now)


def recency_weights(history: UserHistory, half_life: float, floor: float, enabled: bool = True) -> tuple:
    """Distinct history items and their weights: newest item 1, decaying with recency rank.

    An item seen several times keeps its newest position and gains a little per repeat.
    """
    items = np.asarray(history.items, dtype=np.int64)
    if items.size == 0:
        return items, np.zeros(0, np.float32)
    uniq, _, _, counts, rank = history_stats(items)
    return uniq, rank_weights(rank, counts, half_life, floor, np.inf, enabled)


class BaseModel(Model):
    """The ``Model`` every family builds on: ids, histories and popularity held as arrays, saved as one artifact."""

    kind: ClassVar[str] = "base"

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.sparse: dict[str, sp.csr_matrix] = {}
        self.meta: dict[str, Any] = {}
        self._user_index: dict[str, int] | None = None
        self._item_index: dict[str, int] | None = None
        self._popularity: np.ndarray | None = None
        self._event_lookup: dict[str, int] | None = None
        self._event_names: np.ndarray | None = None
        self._hyperparameters: dict[str, Any] | None = None

    # ------------------------------------------------------------ common state
    def set_common(self, data: TrainingData, recipe_arn: str, params: dict[str, Any]) -> None:
        """Store ids, histories, popularity, item times and normalised item features."""
        counts = data.item_counts()
        self._popularity = self._event_lookup = self._event_names = None
        self._hyperparameters = None
        self.arrays.update(
            item_ids=np.asarray(data.item_ids, dtype=str),
            user_ids=np.asarray(data.user_ids, dtype=str),
            user_ptr=data.user_ptr.astype(np.int64, copy=False),  # the training data's own arrays, not copies
            hist_items=data.hist_items.astype(np.int32, copy=False),
            hist_ts=data.hist_ts.astype(np.int64, copy=False),
            hist_events=data.hist_events.astype(np.int16, copy=False),
            item_counts=counts.astype(np.float32),
            item_created=data.item_created.astype(np.int64),
        )
        feats = data.item_features.astype(np.float32).tocsr()
        if feats.shape[1]:
            norms = np.sqrt(np.asarray(feats.multiply(feats).sum(axis=1)).ravel())
            norms[norms == 0] = 1.0
            feats = sp.csr_matrix(sp.diags(1.0 / norms) @ feats, dtype=np.float32)
        self.sparse["item_features"] = feats
        self.meta.update(
            recipe_arn=recipe_arn,
            params={k: str(v) for k, v in params.items()},
            trained_at=data.max_timestamp,
            event_names=list(data.event_names),
            n_items=data.n_items,
            n_users=data.n_users,
        )

    @property
    def n_items(self) -> int:
        """Number of items the model scores."""
        return len(self.arrays["item_ids"])

    @property
    def item_ids(self) -> np.ndarray:
        """Item index -> ITEM_ID."""
        return self.arrays["item_ids"]

    @property
    def user_ids(self) -> np.ndarray:
        """Training user index -> USER_ID."""
        return self.arrays["user_ids"]

    @property
    def item_index(self) -> dict[str, int]:
        """ITEM_ID -> item index."""
        if self._item_index is None:
            self._item_index = {str(x): i for i, x in enumerate(self.item_ids.tolist())}
        return self._item_index

    @property
    def user_index(self) -> dict[str, int]:
        """USER_ID -> training user index."""
        if self._user_index is None:
            self._user_index = {str(x): i for i, x in enumerate(self.user_ids.tolist())}
        return self._user_index

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The parameters the model was trained with, over its recipe's catalogue defaults."""
        if self._hyperparameters is None:
            info = get_recipe(str(self.meta.get("recipe_arn", "")))
            defaults = info.default_hyperparameters if info else {}
            self._hyperparameters = {**defaults, **self.meta.get("params", {})}
        return self._hyperparameters

    @property
    def trained_at(self) -> int:
        """Newest training timestamp (epoch s)."""
        return int(self.meta.get("trained_at", 0))

    def training_history(self, user_id: str) -> UserHistory:
        """The user's history as of training (empty for unknown users)."""
        u = self.user_index.get(str(user_id))
        if u is None:
            return UserHistory.empty()
        lo, hi = int(self.arrays["user_ptr"][u]), int(self.arrays["user_ptr"][u + 1])
        names = self._event_names
        if names is None:
            names = self._event_names = np.asarray(self.meta.get("event_names", [""]), dtype=object)
        return UserHistory(
            np.asarray(self.arrays["hist_items"][lo:hi], np.int64),
            np.asarray(self.arrays["hist_ts"][lo:hi], np.int64),
            names[np.asarray(self.arrays["hist_events"][lo:hi], np.intp)].tolist(),
            user=u,
        )

    def _event_codes(self, history: UserHistory) -> np.ndarray:
        """History event types as indices into the training event names (0 when unknown)."""
        if not history.event_types:
            return np.zeros(len(history), np.int64)
        if history.user >= 0 and history.live_items is None:  # a training history: its codes are stored
            ptr = self.arrays["user_ptr"]
            return np.asarray(self.arrays["hist_events"][ptr[history.user] : ptr[history.user + 1]], np.int64)
        lookup = self._event_lookup
        if lookup is None:
            names = self.meta.get("event_names") or [""]
            lookup = self._event_lookup = {str(n): i for i, n in enumerate(names)}
        return np.array([lookup.get(str(e), 0) for e in history.event_types], np.int64)

    def popularity_scores(self) -> np.ndarray:
        """Log interaction counts scaled into [0, 1] (cold-start fallback); a fresh copy the caller may change."""
        if self._popularity is None:
            counts = np.asarray(self.arrays["item_counts"], np.float64)
            top = math.log1p(float(counts.max())) if counts.size else 1.0
            self._popularity = (np.log1p(counts) / (top or 1.0)).astype(np.float32)
        return self._popularity.copy()

    # ----------------------------------------------------------- exploration
    def exploration_items(self, context: dict[str, Any] | None) -> np.ndarray | None:
        """The items ``explore`` lifts for this context (created or first seen within the age cut-off), as a
        mask; None when exploration is off or no item is young enough."""
        weight, cutoff_days, now = exploration_config(context)
        if weight <= 0.0:
            return None
        now = float(self.trained_at if now is None else now)
        eligible = (now - np.asarray(self.arrays["item_created"], np.float64)) / DAY <= cutoff_days
        return eligible if eligible.any() else None

    def explore(self, scores: np.ndarray, history: UserHistory, context: dict[str, Any] | None) -> np.ndarray:
        """Blend in new/cold items per ``itemExplorationConfig`` (weight 0 = unchanged).

        Eligible items are those created/first seen within the age cut-off; each gets a
        bonus growing with the weight and with how few interactions it has, ordered by
        how well its metadata matches the user's history. The blend stays on Personalize's
        scale of scores, 0 to 1 (both inclusive).
        """
        weight, _, _ = exploration_config(context)
        eligible = self.exploration_items(context)
        if eligible is None:
            return scores
        s = np.asarray(scores, np.float64)
        finite = np.isfinite(s)
        lo, hi = (float(s[finite].min()), float(s[finite].max())) if finite.any() else (0.0, 1.0)
        s_n = np.where(finite, (s - lo) / ((hi - lo) or 1.0), 0.0)
        counts = np.asarray(self.arrays["item_counts"], np.float64)
        coldness = 1.0 / (1.0 + np.log1p(counts))
        match = np.full(len(s), 0.5)
        feats = self.sparse.get("item_features")
        if feats is not None and feats.shape[1] and len(history):
            profile = np.asarray(feats[np.asarray(history.items[-50:], np.int64)].mean(axis=0)).ravel()
            norm = float(np.linalg.norm(profile)) or 1.0
            match = np.clip(feats @ (profile / norm), 0.0, 1.0)
        bonus = coldness * (0.5 + 0.5 * match) * eligible
        factor = 2.0 * weight / max(1.0 - weight, 1e-3)
        out = (s_n + factor * bonus) / (1.0 + factor)  # each part is at most 1
        return np.where(finite, out, scores).astype(np.float32)

    # ---------------------------------------------------------- persistence
    def save(self, dir: Path) -> None:
        """Write the arrays and metadata as an artifact."""
        write_artifact(dir, type(self), self.kind, Artifact(self.arrays, self.sparse, self.meta))

    @classmethod
    def load(cls, dir: Path, mmap: bool = True) -> BaseModel:
        """Load an artifact written by ``save`` (arrays memory-mapped read-only when ``mmap``)."""
        artifact = read_artifact(dir, mmap)
        model = cls.__new__(cls)
        BaseModel.__init__(model)
        model.arrays, model.sparse, model.meta = artifact.arrays, artifact.sparse, artifact.meta
        model.after_load()
        return model

    def after_load(self) -> None:
        """Hook for subclasses to rebuild derived state after ``load``."""

    # ----------------------------------------------------------- protocol
    def score_user(self, history: UserHistory, context: dict[str, Any] | None = None) -> np.ndarray:
        """One score per item (popularity for the base model)."""
        return self.explore(self.popularity_scores(), history, context)

    def score_item(self, item_index: int) -> np.ndarray:
        """Related-item scores for one item (popularity for the base model)."""
        return self.popularity_scores()
