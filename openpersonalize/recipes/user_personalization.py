"""aws-user-personalization (v1, v2): EASE item-item + optional iALS, folded in at request time.

Why this design: the runtime must follow a user's *current* history without retraining,
so every component scores from the history alone: EASE (Steck 2019) multiplies a
recency-weighted history vector by a learned item-item matrix; iALS (implicit) solves the
user factor from the history against fixed item factors. EASE is restricted to the
``ease_max_items`` most interacted items (dense N^2 matrix), so large catalogues stay
in memory; the rest of the catalogue is reached through iALS and popularity.
v1 = EASE + recency (als_weight 0), v2 = EASE + iALS + recency.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from openpersonalize.data.training_data import TrainingData, UserHistory
from openpersonalize.recipes.base import BaseModel, exploration_config, param
from openpersonalize.recipes.blocks import gram
from openpersonalize.recipes.kernels import (
    best_indices,
    features_from_stats,
    history_stats,
    rank_weights,
    repeat_probability,
    row_spread,
    sparse_spread,
    weighted_rows,
)
from openpersonalize.recipes.personal_kernel import Fold, ModelArrays, Recency, ease_values, novel_row, ranked_head
from openpersonalize.recipes.protocol import Contribution, Recipe
from openpersonalize.recipes.registry import UP_ARN, UP_V2_ARN
from openpersonalize.recipes.repeat import calibration_users, fit_calibration, holdout_gram
from openpersonalize.recipes.sequence import TransitionScorer, transition_matrix

EASE_MIN_COUNT = 3  # items with fewer interactions stay out of EASE
ALS_ALPHA = 20.0  # iALS confidence per interaction
TRANSITION_WINDOW = 15  # how many following events a transition counts


def ease_matrix(X: sp.csr_matrix, lam: float) -> np.ndarray:
    """Closed-form EASE weights B (diag 0) for a binary user x item matrix."""
    return ease_from_gram(gram(X), lam)


def ease_from_gram(G: np.ndarray, lam: float) -> np.ndarray:
    """EASE weights from the Gram matrix X^T X (overwritten)."""
    G[np.diag_indices_from(G)] += lam
    c, info = sla.lapack.spotrf(G, lower=1, overwrite_a=1)
    if info == 0:
        P, info = sla.lapack.spotri(c, lower=1, overwrite_c=1)
        P = np.tril(P) + np.tril(P, -1).T
    if info != 0:
        P = np.linalg.inv(G)
    B = P / (-np.diag(P))
    B[np.diag_indices_from(B)] = 0.0
    return B.astype(np.float32)


def fit_als(
    X: sp.csr_matrix, factors: int, regularization: float, iterations: int, alpha: float, seed: int
) -> np.ndarray:
    """implicit's CPU AlternatingLeastSquares; returns item factors (n_items x factors).

    BLAS runs single-threaded meanwhile, as implicit asks (its own threads solve users in parallel); it
    checks that when the model is built, so the model is built inside the limit too.
    """
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            random_state=seed,
            calculate_training_loss=False,
        )
        model.fit(X.astype(np.float32).tocsr(), show_progress=False)
    return np.asarray(model.item_factors, dtype=np.float32)


def als_fold_in(Y: np.ndarray, YtY: np.ndarray, items: np.ndarray, conf: np.ndarray, reg: float) -> np.ndarray:
    """Least-squares user factor for a history (implicit-feedback iALS fold-in)."""
    Yh = Y[items].astype(np.float64)
    A = YtY + (Yh.T * (conf - 1.0)) @ Yh + reg * np.eye(Y.shape[1])
    b = Yh.T @ conf
    return np.linalg.solve(A, b)


class _HistoryStats(NamedTuple):
    """One history's distinct items (sorted) with what recency weights and repeat features need."""

    uniq: np.ndarray
    inv: np.ndarray  # each event's position in ``uniq``
    last_pos: np.ndarray  # each item's newest event
    counts: np.ndarray
    rank: np.ndarray  # recency rank among distinct items, float64 (0 = newest)


def _history_stats(history: UserHistory) -> _HistoryStats:
    """What recency weights and repeat features need of a history (``history_stats``)."""
    return _HistoryStats(*history_stats(history.items))


def _tail_rank(half_life: float, enabled: bool = True) -> float:
    """The recency rank from which an item weighs ``floor`` exactly (every rank when recency is off)."""
    return TAIL_HALF_LIVES * half_life if enabled and half_life > 0 else 0.0


def _recency(
    stats: _HistoryStats, half_life: float, floor: float, enabled: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct item: ``floor`` plus a recency bonus halving every ``half_life`` ranks, times a repeat bonus.

    The bonus is dropped from ``TAIL_HALF_LIVES`` half-lives on (it is below 2^-30 there), so an item
    that old weighs the same however much older it gets: what makes the tail profiles exact.
    """
    tail = _tail_rank(half_life)
    return stats.uniq, rank_weights(stats.rank, stats.counts, half_life, floor, tail, enabled)


TAIL_HALF_LIVES = 30
MIN_TAIL_ITEMS = 64  # users with fewer old EASE items than this are cheap enough as they are
TAIL_PROFILE_BYTES = 512 << 20


def _weighted_rows(B: np.ndarray, rows: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``w @ B[rows]`` (float32)."""
    return weighted_rows(B, np.ascontiguousarray(rows, np.int64), np.ascontiguousarray(w, np.float32))


_NO_ITEMS = np.zeros(0, np.int64)
_NO_ROW = np.zeros(0, np.float32)


def _typed(a: dict[str, Any], name: str, dtype: Any, empty: tuple[int, ...]) -> np.ndarray:
    """``a[name]`` as a contiguous ``dtype`` array, or an empty one of shape ``empty`` when the model has none."""
    return np.ascontiguousarray(a[name], dtype) if name in a else np.zeros(empty, dtype)


class UserPersonalizationModel(BaseModel):
    """EASE (+ iALS) scorer folding in the request-time history."""

    kind = "user-personalization"
    has_ranking_head = True
    updates_incrementally = True
    explains = True

    def after_load(self) -> None:
        """Rebuild derived state (iALS Gram matrix, dense transition rows, scaled priors, the kernels' arrays)."""
        self._yty = None
        self._transitions: TransitionScorer | None = None
        self._priors: dict[float, np.ndarray] = {}
        self._scoring: ModelArrays | None = None

    def _kernel_inputs(self) -> ModelArrays:
        """The model's arrays and hyperparameters as the fused kernels take them (built on first use)."""
        if self._scoring is not None:
            return self._scoring
        a = self.arrays
        scorer = self._transition_scorer()
        if scorer is None:
            scorer = TransitionScorer(sp.csr_matrix((self.n_items, 0), dtype=np.float32))
        p = self._recency_params()
        recency = Recency(p["half_life"], p["floor"], _tail_rank(p["half_life"]), p["enabled"])
        has_transitions = self._transition_scorer() is not None
        self._scoring = ModelArrays(
            ease_pos=_typed(a, "ease_pos", np.int64, (0,)) if "ease_pos" in a else np.full(self.n_items, -1),
            ease_items=_typed(a, "ease_items", np.int64, (0,)),
            ease_B=_typed(a, "ease_B", np.float32, (0, 0)),
            tail_slot=_typed(a, "tail_slot", np.int32, (0,)),
            tail_ptr=_typed(a, "tail_ptr", np.int64, (1,)),
            tail_items=_typed(a, "tail_items", np.int32, (0,)),
            tail_w=_typed(a, "tail_w", np.float32, (0,)),
            tail_F=_typed(a, "tail_F", np.float32, (0, 0)),
            t_slot=scorer.slot,
            t_dense=scorer.dense,
            t_indptr=scorer.indptr,
            t_indices=np.ascontiguousarray(scorer.indices, np.int32),
            t_data=scorer.data,
            item_conv=_typed(a, "item_conv", np.float32, (0, 1)),
            repeat_w=_typed(a, "repeat_w", np.float64, (0,)),
            curve=_typed(a, "novel_curve", np.float64, (0,)).astype(np.float32),
            recency=(recency, Recency(1.0, 0.0, _tail_rank(1.0), True)),
            transition_weight=param(self.hyperparameters, "transition_weight") if has_transitions else 0.0,
            als_weight=float(self.meta.get("als_weight", 0.0)) if "als_items" in a else 0.0,
        )
        return self._scoring

    def _fold(self, history: UserHistory, model: ModelArrays, prior: np.ndarray | None = None) -> Fold:
        """What the kernels take of a history besides its events (``prior``: the default scaled prior)."""
        tw = model.transition_weight if len(history) and prior is None else 0.0
        live = history.live_items if history.live_items is not None else _NO_ITEMS
        als_row = _NO_ROW
        if model.als_weight > 0 and len(history):
            items, w = _recency(_history_stats(history), **self._recency_params())
            als_row = self._als_row(items, w)
        user = history.user if prior is None else -1
        return Fold(self._prior(1.0 - tw) if prior is None else prior, user, live, als_row, tw)

    def _recency_params(self) -> dict[str, Any]:
        """``_recency``'s keyword arguments from the hyperparameters."""
        p = self.hyperparameters
        return {
            "half_life": param(p, "recency_half_life"),
            "floor": param(p, "recency_floor"),
            "enabled": param(p, "recency_mask", bool),
        }

    def _novel_scores(self, history: UserHistory) -> np.ndarray:
        """Item-item (+ iALS) and transition scores with a small popularity prior: a fresh float32 row.

        The blend ``(1 - tw) * (components + prior) + tw * z(transitions)`` of z-scored components, less
        a constant: only the order and spread of these scores matter (calibration and ranking), so each
        component is one scaled addition into the row (``personal_kernel.novel_row``).
        """
        model = self._kernel_inputs()
        return novel_row(model, self._fold(history, model), history.items)

    def _prior(self, scale: float) -> np.ndarray:
        """``scale`` times the popularity prior every row starts from (cached per scale; read-only for callers)."""
        prior = self._priors.get(scale)
        if prior is None:
            pop_w = param(self.hyperparameters, "popularity_weight")
            prior = self._priors[scale] = (scale * (pop_w + 1e-3) * self.popularity_scores().astype(np.float64)).astype(
                np.float32
            )
        return prior

    def _transition_scorer(self) -> TransitionScorer | None:
        """The transition matrix with its densest rows held dense (built once per model)."""
        scorer = getattr(self, "_transitions", None)
        if scorer is None and "transitions" in self.sparse:
            scorer = self._transitions = TransitionScorer(self.sparse["transitions"])
        return scorer

    def _repeat_scores(self, history: UserHistory, stats: _HistoryStats) -> np.ndarray:
        """P(next interaction) of each distinct history item (``stats.uniq``), from the repeat model."""
        ts = history.timestamps if history.timestamps is not None else np.arange(len(history))
        conv_rows = np.asarray(self.arrays["item_conv"])[stats.uniq]
        feats = features_from_stats(
            stats.inv, stats.last_pos, stats.counts, stats.rank, ts, self._event_codes(history), conv_rows
        )
        return repeat_probability(np.asarray(self.arrays["repeat_w"]), feats)

    def _best_unseen(self, novel: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """The ``m`` best unseen items of ``novel`` (ties: lower index first; ``m``: the rank curve's length or
        every unseen item). ``novel``'s seen items become -inf."""
        novel[seen] = -np.inf
        return best_indices(novel, min(len(self.arrays["novel_curve"]), len(novel) - len(seen)))

    def _calibrated(self, history: UserHistory, novel: np.ndarray, stats: _HistoryStats | None = None) -> np.ndarray:
        """P(next interaction) for every item: rank curve for unseen items, repeat model for seen ones.

        The ``m`` best unseen items (ties: lower index first) get the curve's rates in rank order; the
        other unseen items share the tail below ``curve[m - 1]``, linear in their score (from half of it
        to 0.99 of it). ``novel`` (a float32 row owned by the caller) is overwritten and returned.
        """
        curve = np.asarray(self.arrays["novel_curve"], np.float64)
        st = stats or _history_stats(history)
        s = novel
        s[st.uniq] = np.inf  # every unseen score is finite: the minimum is theirs
        lo = float(s.min())
        top = self._best_unseen(s, st.uniq)
        m = len(top)
        if m and len(s) - len(st.uniq) > m:
            # every other unseen score lies in [lo, hi]: the top m hold the largest ones
            hi = float(s[top[-1]])
            scale = 0.49 * curve[m - 1] / ((hi - lo) or 1.0)
            s *= np.float32(scale)
            s += np.float32(0.5 * curve[m - 1] - lo * scale)
        else:
            s[:] = 0.0
        s[top] = curve[:m]
        if len(st.uniq):
            s[st.uniq] = self._repeat_scores(history, st)
        return s

    def best_items(
        self, history: UserHistory, context: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The head of ``score_user``'s ranking with its scores (float32), without scoring the whole catalogue.

        Every item left out scores strictly below each one returned, so these, ranked (score descending,
        ties by lower index, the order they come in), are the first places of ``top_k`` of the full row.
        They are the best unseen items, which carry the rank curve's rates, and the seen items whose
        repeat probability reaches the lowest of those rates: every other unseen item sits in the
        linear tail below it (at most 0.99 of it). None where the row has no such head (no history,
        exploration, no repeat model): the caller scores the whole row.
        """
        if len(history) == 0 or exploration_config(context)[0] > 0 or "repeat_w" not in self.arrays:
            return None
        model = self._kernel_inputs()
        ts = history.timestamps if history.timestamps is not None else np.arange(len(history), dtype=np.int64)
        head = ranked_head(model, self._fold(history, model), history.items, ts, self._event_codes(history))
        return head if len(head[0]) else None

    def _ease_row(self, items: np.ndarray, rows: np.ndarray, w: np.ndarray, history: UserHistory) -> np.ndarray:
        """Sum of the history's EASE rows by weight (float32); a long training history's old rows come summed.

        ``items``/``rows``/``w``: the distinct history items inside EASE (sorted), their rows and weights.
        A training tail item no live event touched still weighs what it weighed at training (its rank
        only grew, its count is the same), so its share is in the profile; a touched one is taken
        back out of the profile and added with its new weight.
        """
        live = history.live_items if history.live_items is not None else _NO_ITEMS
        typed = (np.ascontiguousarray(items, np.int64), np.ascontiguousarray(rows, np.int64))
        return ease_values(self._kernel_inputs(), *typed, np.ascontiguousarray(w, np.float32), history.user, live)

    def build_tail_profiles(self, max_bytes: int = TAIL_PROFILE_BYTES) -> None:
        """Sum, once, the EASE rows of the old items of the longest training histories (their tail profiles).

        A request then reads a few dozen recent rows instead of every row of a long history: the
        per-request cost of heavy users, what sets the runtime's p99. Users are taken longest tail
        first while the profiles fit ``max_bytes``.
        """
        a = self.arrays
        for name in ("tail_slot", "tail_ptr", "tail_items", "tail_w", "tail_F"):
            a.pop(name, None)
        if "ease_B" not in a:
            return
        recency = self._recency_params()
        start = _tail_rank(recency["half_life"], recency["enabled"])
        B, pos = np.asarray(a["ease_B"]), np.asarray(a["ease_pos"])
        ptr, hist = np.asarray(a["user_ptr"]), np.asarray(a["hist_items"])
        tails = []
        for u in np.flatnonzero(np.diff(ptr) >= MIN_TAIL_ITEMS + start).tolist():
            stats = _history_stats(UserHistory(hist[ptr[u] : ptr[u + 1]]))
            items, w = _recency(stats, **recency)
            old = (stats.rank >= start) & (pos[items] >= 0)
            if np.count_nonzero(old) >= MIN_TAIL_ITEMS:
                tails.append((u, items[old], w[old]))
        cap = max_bytes // max(4 * B.shape[1], 1)
        tails = sorted(sorted(tails, key=lambda t: -len(t[1]))[:cap], key=lambda t: t[0])
        if not tails:
            return
        slot = np.full(len(ptr) - 1, -1, np.int32)
        slot[[u for u, _, _ in tails]] = np.arange(len(tails))
        a["tail_slot"] = slot
        a["tail_ptr"] = np.concatenate([[0], np.cumsum([len(t) for _, t, _ in tails])]).astype(np.int64)
        a["tail_items"] = np.concatenate([t for _, t, _ in tails]).astype(np.int32)
        a["tail_w"] = np.concatenate([w for _, _, w in tails]).astype(np.float32)
        a["tail_F"] = np.stack([_weighted_rows(B, pos[t], w) for _, t, w in tails]).astype(np.float32)

    def score_user(self, history: UserHistory, context: dict[str, Any] | None = None) -> np.ndarray:
        """One score per item from the user's current history; popularity when it is empty."""
        if len(history) == 0:
            return self.explore(self.popularity_scores(), history, context)
        return self.explore(self._row(history), history, context)

    def _row(self, history: UserHistory) -> np.ndarray:
        """``score_user``'s float32 scores before exploration (non-empty history)."""
        scores = self._novel_scores(history)
        if "repeat_w" in self.arrays:
            scores = self._calibrated(history, scores)
        return scores

    def explain(self, history: UserHistory, item_index: int, k: int = 3) -> list[Contribution]:
        """The terms of the item's score before calibration (which keeps their order): each history item's
        item-item (EASE), factor (iALS fold-in, linear in the history given its system matrix) and transition
        parts, weighted as ``_novel_scores`` weighs them, then the popularity prior; a history item's
        repeat probability first when the item is in the history."""
        j = int(item_index)
        if len(history) == 0:
            return [Contribution("popularity", float(self.popularity_scores()[j]))]
        stats = _history_stats(history)
        scorer = self._transition_scorer()
        tw = param(self.hyperparameters, "transition_weight") if scorer is not None else 0.0
        items, w = _recency(stats, **self._recency_params())
        parts = {"item-item": self._ease_terms(items, w, history, j), "factors": self._als_terms(items, w, j)}
        if scorer is not None and tw > 0:
            t_items, t_w = _recency(stats, half_life=1.0, floor=0.0)
            newest = np.argsort(-t_w, kind="stable")[:10]  # the rows TransitionScorer.scores adds
            spread = row_spread(scorer.scores(t_items, t_w))
            terms = np.zeros(len(items))
            if spread > 0:
                column = self.sparse["transitions"][t_items[newest], j].toarray().ravel()
                terms[newest] = tw / spread * t_w[newest] * column
            parts = {name: (1.0 - tw) * v for name, v in parts.items()} | {"transition": terms}
        total = sum(parts.values())
        out = []
        if "repeat_w" in self.arrays and j in set(stats.uniq.tolist()):
            repeat = self._repeat_scores(history, stats)[int(np.searchsorted(stats.uniq, j))]
            out.append(Contribution("repeat", float(repeat), j))
        for n in np.argsort(-total, kind="stable")[:k]:
            if total[n] > 0:
                term = max(parts, key=lambda name: parts[name][n])
                out.append(Contribution(term, float(total[n]), int(items[n])))
        return out + [Contribution("popularity", float(self._prior(1.0 - tw)[j]))]

    def _ease_terms(self, items: np.ndarray, w: np.ndarray, history: UserHistory, j: int) -> np.ndarray:
        """Each history item's z-scored EASE part of item ``j``'s score (zero outside EASE)."""
        terms = np.zeros(len(items))
        if "ease_items" not in self.arrays or not len(self.arrays["ease_items"]):
            return terms
        pos = np.asarray(self.arrays["ease_pos"])
        rows, pj = pos[items], int(pos[j])
        ok = rows >= 0
        if pj < 0 or not ok.any():
            return terms
        spread = sparse_spread(self.n_items, self._ease_row(items[ok], rows[ok], w[ok], history))
        if spread > 0:
            als_w = float(self.meta.get("als_weight", 0.0))
            terms[ok] = (1.0 - als_w) / spread * w[ok] * np.asarray(self.arrays["ease_B"])[rows[ok], pj]
        return terms

    def _als_terms(self, items: np.ndarray, w: np.ndarray, j: int) -> np.ndarray:
        """Each history item's z-scored iALS part of item ``j``'s score: with x = A^-1 sum_i c_i y_i the
        fold-in, y_j . x = sum_i c_i (A^-1 y_j) . y_i."""
        als_w = float(self.meta.get("als_weight", 0.0))
        if als_w <= 0 or "als_items" not in self.arrays:
            return np.zeros(len(items))
        Y = np.asarray(self.arrays["als_items"])
        if getattr(self, "_yty", None) is None:
            self._yty = Y.T.astype(np.float64) @ Y.astype(np.float64)
        conf, reg = 1.0 + ALS_ALPHA * w, param(self.hyperparameters, "als_regularization")
        Yh = Y[items].astype(np.float64)
        A = self._yty + (Yh.T * (conf - 1.0)) @ Yh + reg * np.eye(Y.shape[1])
        spread = row_spread(Y @ np.linalg.solve(A, Yh.T @ conf).astype(np.float32))
        if spread <= 0:
            return np.zeros(len(items))
        return als_w / spread * conf * (Yh @ np.linalg.solve(A, Y[j].astype(np.float64)))

    def score_item(self, item_index: int) -> np.ndarray:
        """Related items: the single-item history's item-item (+ iALS) scores, popularity breaking ties."""
        history = UserHistory(np.array([item_index]))
        prior = (1e-3 * self.popularity_scores()).astype(np.float32)
        model = self._kernel_inputs()
        return novel_row(model, self._fold(history, model, prior), history.items)

    def _als_row(self, items: np.ndarray, w: np.ndarray) -> np.ndarray:
        """The iALS scores of every item for a weighted history (its fold-in user factor)."""
        Y = np.asarray(self.arrays["als_items"])
        if getattr(self, "_yty", None) is None:
            self._yty = Y.T.astype(np.float64) @ Y.astype(np.float64)
        x = als_fold_in(Y, self._yty, items, 1.0 + ALS_ALPHA * w, param(self.hyperparameters, "als_regularization"))
        return Y @ x.astype(np.float32)

    # ------------------------------------------------------------- UPDATE
    def updated(self, data: TrainingData) -> UserPersonalizationModel:
        """UPDATE training: keep the learned matrices, re-index onto ``data`` (new items, histories)."""
        new = type(self).__new__(type(self))
        BaseModel.__init__(new)
        new.set_common(data, self.meta["recipe_arn"], self.meta.get("params", {}))
        new.meta["als_weight"] = self.meta.get("als_weight", 0.0)
        remap = np.array([data.item_index.get(str(i), -1) for i in self.item_ids.tolist()], np.int64)
        if "ease_items" in self.arrays:
            old_items = np.asarray(self.arrays["ease_items"])
            new_items = remap[old_items]
            ok = new_items >= 0
            B = np.asarray(self.arrays["ease_B"])[np.ix_(ok, ok)]
            new.arrays["ease_items"] = new_items[ok].astype(np.int64)
            pos = np.full(data.n_items, -1, np.int64)
            pos[new_items[ok]] = np.arange(int(ok.sum()))
            new.arrays["ease_pos"] = pos
            new.arrays["ease_B"] = np.ascontiguousarray(B)
        if "als_items" in self.arrays:
            Y_old = np.asarray(self.arrays["als_items"])
            Y = np.zeros((data.n_items, Y_old.shape[1]), np.float32)
            ok = remap >= 0
            Y[remap[ok]] = Y_old[ok]
            new.arrays["als_items"] = Y
        if "transitions" in self.sparse:
            T = self.sparse["transitions"].tocoo()
            ok = (remap[T.row] >= 0) & (remap[T.col] >= 0)
            new.sparse["transitions"] = sp.csr_matrix(
                (T.data[ok], (remap[T.row[ok]], remap[T.col[ok]])), shape=(data.n_items, data.n_items), dtype=np.float32
            )
        if "repeat_w" in self.arrays:
            conv_old = np.asarray(self.arrays["item_conv"])
            conv = np.tile(conv_old.mean(axis=0, keepdims=True), (data.n_items, 1)).astype(np.float32)
            ok = remap >= 0
            conv[remap[ok]] = conv_old[ok]
            new.arrays["item_conv"] = conv
            new.arrays["repeat_w"] = np.asarray(self.arrays["repeat_w"]).copy()
            new.arrays["novel_curve"] = np.asarray(self.arrays["novel_curve"]).copy()
        new.meta["updated_from"] = self.meta.get("trained_at")
        new.build_tail_profiles()
        new.after_load()
        return new


class UserPersonalizationRecipe(Recipe):
    """aws-user-personalization: EASE + recency-weighted fold-in."""

    arn = UP_ARN
    model_cls: type[UserPersonalizationModel] = UserPersonalizationModel

    def fit(self, data: TrainingData, params: dict[str, Any] | None = None, seed: int = 0) -> UserPersonalizationModel:
        """Train EASE on the most interacted items (and iALS when ``als_weight`` > 0)."""
        params = self.hyperparameters(params)
        if data.n_interactions == 0:
            raise ValueError("No interactions to train on.")
        t0 = time.perf_counter()
        model = self.model_cls()
        model.set_common(data, self.arn, params)
        X = data.presence()
        counts = X.getnnz(axis=0).astype(np.float64)  # users per item, whatever their weights
        max_items = param(params, "ease_max_items", int)
        candidates = np.flatnonzero(counts >= EASE_MIN_COUNT)
        if len(candidates) > max_items:
            candidates = candidates[np.argsort(-counts[candidates], kind="stable")[:max_items]]
        candidates = np.sort(candidates)
        lam = param(params, "ease_lambda")
        use_repeat = param(params, "repeat_model", bool)
        cal_users = calibration_users(data.user_ptr, seed) if use_repeat else np.zeros(0, np.int64)
        B_cal = None
        if len(candidates):
            Xc = X[:, candidates].tocsr()
            G = gram(Xc)
            if len(cal_users):
                B_cal = ease_from_gram(G - holdout_gram(Xc, cal_users), lam)
            B = ease_from_gram(G, lam)
            del G
            model.arrays["ease_items"] = candidates.astype(np.int64)
            pos = np.full(data.n_items, -1, np.int64)
            pos[candidates] = np.arange(len(candidates))
            model.arrays["ease_pos"] = pos
            model.arrays["ease_B"] = B
        als_w = param(params, "als_weight")
        if als_w > 0:
            Y = fit_als(
                X,
                factors=param(params, "hidden_dimension", int),
                regularization=param(params, "als_regularization"),
                iterations=param(params, "als_iterations", int),
                alpha=ALS_ALPHA,
                seed=seed,
            )
            model.arrays["als_items"] = Y
        model.meta["als_weight"] = als_w if als_w > 0 else 0.0
        if param(params, "transition_weight") > 0:
            model.sparse["transitions"] = transition_matrix(
                data.user_ptr, data.hist_items, data.n_items, TRANSITION_WINDOW
            )
        if use_repeat:
            self._fit_repeat(model, cal_users, B_cal, seed)
        model.build_tail_profiles()
        model.meta["fit_seconds"] = time.perf_counter() - t0
        model.after_load()
        return model

    @staticmethod
    def _fit_repeat(model: UserPersonalizationModel, cal_users: np.ndarray, B_cal: Any, seed: int) -> None:
        """Learn the re-interaction model and the unseen-item rank -> hit-rate curve (EASE refitted as ``B_cal``)."""
        cal = type(model).__new__(type(model))
        BaseModel.__init__(cal)
        cal.meta = model.meta
        cal.arrays = {**model.arrays}
        if B_cal is not None:
            cal.arrays["ease_B"] = B_cal
        cal.after_load()
        fit_calibration(model.arrays, len(model.meta.get("event_names") or [""]), cal_users, cal._novel_scores, seed)


class UserPersonalizationV2Recipe(UserPersonalizationRecipe):
    """aws-user-personalization-v2: EASE + iALS + recency ensemble."""

    arn = UP_V2_ARN
