"""aws-sims (co-interaction item-to-item) and aws-similar-items (+ item metadata).

Co-interaction counts are computed block-wise over items and only each item's top
``neighbours`` are kept (sparse), so the artifact stays small even for large catalogues.
``popularity_discount_factor`` p scores a pair by ``C_ij / (n_i n_j)^p`` (0 = raw counts,
favouring popular items; 0.5 = cosine; 1 = strongly discounts popular items), where
co-interactions are weighted by each pair's event strength (see ``_user_filter``);
pairs with fewer than ``min_cointeraction_count`` co-interactions are dropped.

As a user recommender (``score_user``), aws-sims puts history and unseen items on one scale,
like user-personalization (see ``repeat.py``): unseen items get the hit rate measured at their
neighbour-score rank on held-out training users, history items the learned probability of
being interacted with again. ``score_item`` (related items) is plain neighbour similarity.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from openpersonalize.data.training_data import TrainingData, UserHistory
from openpersonalize.recipes.base import BaseModel, param, recency_weights
from openpersonalize.recipes.kernels import repeat_probability
from openpersonalize.recipes.protocol import Contribution, Recipe
from openpersonalize.recipes.registry import SIMILAR_ITEMS_ARN, SIMS_ARN
from openpersonalize.recipes.repeat import calibration_users, fit_calibration, history_features

MAX_HISTORY_PER_USER = 500  # newest events of a user that count towards co-interactions


def _topk_rows(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of each row's top-k positive entries (padded with -1/0)."""
    k = min(k, block.shape[1])
    idx = np.argpartition(-block, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(block, idx, axis=1)
    idx = np.where(vals > 0, idx, -1)
    return idx, np.where(vals > 0, vals, 0.0)


def _to_csr(idx: np.ndarray, vals: np.ndarray, n: int) -> sp.csr_matrix:
    rows = np.repeat(np.arange(idx.shape[0]), idx.shape[1])
    ok = idx.ravel() >= 0
    return sp.csr_matrix((vals.ravel()[ok].astype(np.float32), (rows[ok], idx.ravel()[ok])), shape=(idx.shape[0], n))


def _user_filter(data: TrainingData, params: dict[str, Any], max_history: int) -> sp.csr_matrix:
    """User x item strength matrix keeping users inside the history-length percentiles, newest items.

    A pair's strength is its number of events raised to ``event_strength_power``: a user who
    clicked *and* watched a movie says more about it than a click alone (0 = binary).
    """
    lengths = np.diff(data.user_ptr)
    lo = np.quantile(lengths, param(params, "min_user_history_length_percentile"))
    hi = np.quantile(lengths, param(params, "max_user_history_length_percentile"))
    keep_user = (lengths >= lo) & (lengths <= max(hi, lo))
    users = data.hist_users
    # position from the end within each user's history: keep the newest ``max_history`` rows
    from_end = data.user_ptr[users + 1] - np.arange(len(users)) - 1
    keep = keep_user[users] & (from_end < max_history)
    X = sp.csr_matrix(
        (np.ones(int(keep.sum()), np.float32), (users[keep], data.hist_items[keep])),
        shape=(data.n_users, data.n_items),
    )
    X.sum_duplicates()
    X.data = np.power(X.data, param(params, "event_strength_power")).astype(np.float32)
    return X


def cointeraction_neighbours(
    X: sp.csr_matrix, discount: float, min_count: int, k: int, block: int = 2048, user_damping: float = 0.0
) -> sp.csr_matrix:
    """Top-k neighbours per item from co-interactions (item x item CSR).

    Each user's co-interactions count ``1 / n_u^user_damping`` so that users who interacted
    with a large part of the catalogue do not make everything similar to everything.
    """
    n = X.shape[1]
    XT = X.T.tocsr()
    lengths = np.asarray(X.sum(axis=1)).ravel()
    Xw = (sp.diags(1.0 / np.power(np.maximum(lengths, 1.0), user_damping)) @ X).tocsr().astype(np.float32)
    counts = np.asarray(X.sum(axis=0)).ravel()
    denom = np.power(np.maximum(counts, 1.0), discount)
    parts = []
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        C = (XT[lo:hi] @ X).toarray()
        S = (XT[lo:hi] @ Xw).toarray()
        S[np.arange(hi - lo), np.arange(lo, hi)] = 0.0
        S[C < max(min_count, 1)] = 0.0
        del C
        S /= denom[lo:hi, None]
        S /= denom[None, :]
        idx, vals = _topk_rows(S, k)
        parts.append(_to_csr(idx, vals, n))
    return sp.vstack(parts).tocsr() if parts else sp.csr_matrix((0, n))


def metadata_neighbours(F: sp.csr_matrix, k: int, block: int = 2048) -> sp.csr_matrix:
    """Top-k cosine neighbours per item from (row-normalised) metadata features."""
    n = F.shape[0]
    FT = F.T.tocsc()
    parts = []
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        S = np.asarray((F[lo:hi] @ FT).todense())
        S[np.arange(hi - lo), np.arange(lo, hi)] = 0.0
        idx, vals = _topk_rows(S, k)
        parts.append(_to_csr(idx, vals, n))
    return sp.vstack(parts).tocsr()


class SimsModel(BaseModel):
    """Sparse top-k neighbour lists; related items = the item's row."""

    kind = "sims"
    explains = True

    def score_item(self, item_index: int) -> np.ndarray:
        """Neighbour similarity (popularity breaks ties / fills items without neighbours)."""
        out = 1e-6 * self.popularity_scores().astype(np.float64)
        row = self.sparse["neighbours"][int(item_index)]
        out[row.indices] += row.data
        return out.astype(np.float32)

    def _recent_neighbours(self, history: UserHistory) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
        """The user's 50 most recent items, their weights (recency over the row's max) and neighbour rows."""
        items, w = recency_weights(history, half_life=4.0, floor=0.02)
        recent = np.argsort(-w, kind="stable")[:50]  # ties (floor weights) by item, on any CPU
        rows = self.sparse["neighbours"][items[recent]]
        scale = np.asarray(rows.max(axis=1).todense()).ravel()
        scale[scale == 0] = 1.0
        return items[recent], w[recent] / scale, rows

    def _novel_scores(self, history: UserHistory) -> np.ndarray:
        """Recency-weighted sum of the (row-max normalised) neighbours of the user's recent items."""
        _, weights, rows = self._recent_neighbours(history)
        out = 1e-6 * self.popularity_scores().astype(np.float64)
        out += np.asarray((sp.diags(weights) @ rows).sum(axis=0)).ravel()
        return out

    def explain(self, history: UserHistory, item_index: int, k: int = 3) -> list[Contribution]:
        """The terms of the item's neighbour score (before calibration, which keeps their order): each recent
        item's co-occurrence similarity times its weight, and the popularity term breaking ties."""
        j = int(item_index)
        popularity = float(self.popularity_scores()[j])
        if len(history) == 0:
            return [Contribution("popularity", popularity)]
        items, weights, rows = self._recent_neighbours(history)
        terms = weights * rows[:, j].toarray().ravel()
        best = [n for n in np.argsort(-terms, kind="stable")[:k] if terms[n] > 0]
        out = [Contribution("co-occurrence", float(terms[n]), int(items[n])) for n in best]
        return out + [Contribution("popularity", 1e-6 * popularity)]

    def _calibrated(self, history: UserHistory, novel: np.ndarray) -> np.ndarray:
        """P(next interaction): rank -> hit-rate curve for unseen items, repeat model for history items."""
        curve = np.asarray(self.arrays["novel_curve"], np.float64)
        ts = history.timestamps if history.timestamps is not None else np.arange(len(history))
        seen, feats = history_features(
            history.items, ts, self._event_codes(history), np.asarray(self.arrays["item_conv"])
        )
        # rank on the float32 scores the plain scorer returns; tied items share a value (ties stay ties)
        s = np.asarray(novel, np.float32).astype(np.float64)
        s[seen] = -np.inf
        m = min(len(curve), int(np.isfinite(s).sum()))
        out = np.zeros(len(s), np.float64)
        if m > 0:
            top = np.argpartition(-s, m - 1)[:m]
            top = top[np.argsort(-s[top], kind="stable")]
            vals = s[top]
            first = np.maximum.accumulate(np.where(np.r_[True, vals[1:] != vals[:-1]], np.arange(m), 0))
            out[top] = curve[first]
            rest = np.isfinite(s)
            rest[top] = False
            if rest.any():  # below the curve, in the scorer's order
                lo, hi = float(s[rest].min()), float(vals[-1])
                out[rest] = curve[m - 1] * (0.5 + 0.49 * (s[rest] - lo) / ((hi - lo) or 1.0))
                out[rest & (s == hi)] = curve[first[-1]]
        if len(seen):
            out[seen] = repeat_probability(np.asarray(self.arrays["repeat_w"]), feats)
        return out

    def score_user(self, history: UserHistory, context: dict[str, Any] | None = None) -> np.ndarray:
        """Neighbours of the user's recent items; calibrated against re-interactions when trained with them."""
        if len(history) == 0:
            return self.explore(self.popularity_scores(), history, context)
        out = self._novel_scores(history)
        if "repeat_w" in self.arrays and "novel_curve" in self.arrays:
            out = self._calibrated(history, out)
        return self.explore(out.astype(np.float32), history, context)


class SimsRecipe(Recipe):
    """aws-sims."""

    arn = SIMS_ARN

    def _neighbours(self, data: TrainingData, params: dict[str, Any]) -> sp.csr_matrix:
        X = _user_filter(data, params, MAX_HISTORY_PER_USER)
        return self._neighbours_from(X, params)

    @staticmethod
    def _neighbours_from(X: sp.csr_matrix, params: dict[str, Any]) -> sp.csr_matrix:
        return cointeraction_neighbours(
            X,
            discount=param(params, "popularity_discount_factor"),
            min_count=param(params, "min_cointeraction_count", int),
            k=param(params, "neighbours", int),
        )

    def fit(self, data: TrainingData, params: dict[str, Any] | None = None, seed: int = 0) -> SimsModel:
        """Co-interaction neighbours."""
        params = self.hyperparameters(params)
        if data.n_interactions == 0:
            raise ValueError("No interactions to train on.")
        model = SimsModel()
        model.set_common(data, self.arn, params)
        model.sparse["neighbours"] = self._neighbours(data, params)
        if param(params, "repeat_model", bool):
            self._fit_repeat(model, data, params, seed)
        return model

    def _fit_repeat(self, model: SimsModel, data: TrainingData, params: dict[str, Any], seed: int) -> None:
        """Learn the re-interaction model and the hit rate of unseen items by neighbour-score rank
        (neighbours refitted without a held-out share of the training users, scored on their cuts)."""
        cal_users = calibration_users(np.asarray(model.arrays["user_ptr"]), seed)
        cal = SimsModel()
        cal.meta = model.meta
        cal.arrays = {**model.arrays}
        keep = np.ones(data.n_users, bool)
        keep[cal_users] = False
        X = _user_filter(data, params, MAX_HISTORY_PER_USER)
        X = (sp.diags(keep.astype(np.float32)) @ X).tocsr()
        X.eliminate_zeros()
        cal.sparse["neighbours"] = self._neighbours_from(X, params)
        fit_calibration(model.arrays, len(model.meta.get("event_names") or [""]), cal_users, cal._novel_scores, seed)


class SimilarItemsRecipe(SimsRecipe):
    """aws-similar-items: co-interactions blended with metadata similarity."""

    arn = SIMILAR_ITEMS_ARN

    def fit(self, data: TrainingData, params: dict[str, Any] | None = None, seed: int = 0) -> SimsModel:
        """Blend row-normalised co-interaction and metadata neighbours; cold items get metadata ones."""
        params = self.hyperparameters(params)
        model = SimsModel()
        model.set_common(data, self.arn, params)
        N = self._neighbours(data, params) if data.n_interactions else sp.csr_matrix((data.n_items,) * 2)
        mw = param(params, "metadata_weight")
        F = model.sparse["item_features"]
        if F.shape[1] and mw > 0:
            M = metadata_neighbours(F, param(params, "neighbours", int))
            rowmax = np.asarray(N.max(axis=1).todense()).ravel()
            has = rowmax > 0
            rowmax[~has] = 1.0
            Nn = sp.diags(1.0 / rowmax) @ N
            # items without co-interactions rely fully on metadata
            wm = np.where(has, mw, 1.0)
            N = (sp.diags(1.0 - wm) @ Nn + sp.diags(wm) @ M).tocsr()
        model.sparse["neighbours"] = N.astype(np.float32).tocsr()
        return model
