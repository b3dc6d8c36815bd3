"""Re-interaction model and score calibration for user-personalization.

Personalize's recommendations are not filtered against the user's history unless a filter
says so, and a user's next interactions can involve items already in the history (the
next event type on an item: a ``click`` followed by a ``watch``; or plain re-consumption).
This module learns, from the training users' own sequences, how likely each history item
is to be interacted with again in the user's next interactions (a small logistic model
on recency and event-type features), and how likely an unseen item is at each rank of the
item-item scorer (a rank -> hit-rate curve measured on held-out training users). Both are
probabilities of the same event, so the runtime can put seen and unseen items on one scale.
On data where nothing repeats (one event type, no re-consumption) the learned repeat
probability is ~0 and seen items sink below every unseen one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from openpersonalize.data.training_data import UserHistory

from .kernels import N_FEATURES, features_from_stats, history_stats

CURVE_LENGTH = 200  # ranks the unseen-item hit-rate curve covers


def item_event_conversion(
    users: np.ndarray, items: np.ndarray, events: np.ndarray, n_items: int, n_events: int, prior: float = 5.0
) -> np.ndarray:
    """(n_items, n_events) smoothed share of an item's users who have each event type on it."""
    pair = users.astype(np.int64) * n_items + items.astype(np.int64)
    key = np.unique(np.stack([pair, events.astype(np.int64)], axis=1), axis=0)
    pair_u = np.unique(pair)
    item_users = np.bincount(pair_u % n_items, minlength=n_items).astype(np.float64)
    conv = np.zeros((n_items, n_events), np.float64)
    np.add.at(conv, (key[:, 0] % n_items, key[:, 1]), 1.0)
    glob = conv.sum(axis=0) / max(float(item_users.sum()), 1.0)
    return ((conv + prior * glob) / (item_users[:, None] + prior)).astype(np.float32)


def history_features(
    items: np.ndarray, ts: np.ndarray, events: np.ndarray, conv: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct history items (sorted) and their repeat features (``features_from_stats``)."""
    items = np.asarray(items, np.int64)
    if items.size == 0:
        return items, np.zeros((0, N_FEATURES), np.float32)
    uniq, inv, last_pos, counts, rank = history_stats(items)
    return uniq, features_from_stats(inv, last_pos, counts, rank, ts, events, conv[uniq])


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 25) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method (IRLS)."""
    X = np.asarray(X, np.float64)
    y = np.asarray(y, np.float64)
    w = np.zeros(X.shape[1])
    w[0] = np.log((y.mean() + 1e-6) / (1.0 - y.mean() + 1e-6))
    reg = l2 * np.eye(X.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -30, 30)))
        grad = X.T @ (p - y) + reg @ w
        H = (X.T * (p * (1.0 - p))) @ X + reg
        step = np.linalg.solve(H, grad)
        norm = float(np.linalg.norm(step))
        if norm > 5.0:  # damped Newton: (quasi-)separable data must not overshoot
            step *= 5.0 / norm
        w -= step
        if float(np.abs(step).max()) < 1e-6:
            break
    return w.astype(np.float32)


def simulated_cuts(
    user_ptr: np.ndarray, n_users: int, holdout: float, max_users: int, seed: int, users: np.ndarray | None = None
) -> list[tuple[int, int, int]]:
    """(user, start, cut) triples: the oldest 90% / newest 10% split of sampled training users."""
    pool = np.arange(n_users) if users is None else np.asarray(users)
    lengths = user_ptr[pool + 1] - user_ptr[pool]
    pool = pool[lengths >= 2]
    if len(pool) > max_users:
        pool = np.sort(np.random.default_rng(seed).choice(pool, size=max_users, replace=False))
    out = []
    for u in pool.tolist():
        lo, hi = int(user_ptr[u]), int(user_ptr[u + 1])
        n_truth = max(1, int(round((hi - lo) * holdout)))
        out.append((u, lo, hi - n_truth))
    return out


def fit_repeat_model(
    user_ptr: np.ndarray,
    hist_items: np.ndarray,
    hist_ts: np.ndarray,
    hist_events: np.ndarray,
    conv: np.ndarray,
    holdout: float = 0.1,
    max_users: int = 5000,
    max_items: int = 300,
    seed: int = 0,
) -> np.ndarray:
    """Logistic weights for ``repeat_probability`` learned from the training sequences."""
    n_users = len(user_ptr) - 1
    X_parts, y_parts = [], []
    for u, lo, cut in simulated_cuts(user_ptr, n_users, holdout, max_users, seed):
        hi = int(user_ptr[u + 1])
        start = max(lo, cut - 4 * max_items)
        uniq, feats = history_features(hist_items[start:cut], hist_ts[start:cut], hist_events[start:cut], conv)
        if len(uniq) > max_items:  # most recent distinct items only
            keep = np.argsort(feats[:, 3], kind="stable")[:max_items]
            uniq, feats = uniq[keep], feats[keep]
        X_parts.append(feats)
        y_parts.append(np.isin(uniq, hist_items[cut:hi]))
    if not X_parts:
        w = np.zeros(N_FEATURES, np.float32)
        w[0] = -20.0
        return w
    y = np.concatenate(y_parts)
    if not y.any():  # nothing ever repeats: seen items are never interacted with again
        w = np.zeros(N_FEATURES, np.float32)
        w[0] = -20.0
        return w
    return fit_logistic(np.concatenate(X_parts), y)


def hit_rate_curve(hits: np.ndarray, n_users: int, length: int) -> np.ndarray:
    """Smooth, decreasing P(hit at rank j), j = 1..length: a least-squares power law a * j^-b.

    ``a`` (the rate at rank 1) is capped at 1: it is a probability and becomes a public score, and a fit
    to rates near 1 at the first ranks (a predictable catalogue) overshoots it."""
    ranks = np.arange(1, length + 1, dtype=np.float64)
    rate = np.asarray(hits, np.float64)[:length] / max(n_users, 1)
    if not rate.any():
        return np.full(length, 1e-4, np.float32)
    weights = np.sqrt(np.maximum(rate, 1.0 / max(n_users, 1)))
    best = (np.inf, rate.mean(), 0.0)
    for b in np.linspace(0.0, 1.5, 31):
        basis = ranks**-b
        a = float((weights * basis) @ (weights * rate) / ((weights * basis) @ (weights * basis)))
        err = float(((weights * (a * basis - rate)) ** 2).sum())
        if err < best[0]:
            best = (err, a, b)
    _, a, b = best
    return np.maximum(min(a, 1.0) * ranks**-b, 1e-6).astype(np.float32)


def holdout_gram(X: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
    """X_h^T X_h for the held-out users (to subtract from the full Gram matrix)."""
    Xh = X[np.asarray(users, np.int64)]
    return (Xh.T @ Xh).toarray().astype(np.float32)


def calibration_users(user_ptr: np.ndarray, seed: int, share: float = 0.25, cap: int = 3000) -> np.ndarray:
    """Training users (2+ events) held out of a second fit to measure the hit rate by rank; none below 10."""
    pool = np.flatnonzero(np.diff(user_ptr) >= 2)
    n = min(int(len(pool) * share), cap)
    if n < 10:
        return np.zeros(0, np.int64)
    return np.sort(np.random.default_rng(seed + 104729).choice(pool, size=n, replace=False))


def fit_calibration(
    arrays: dict[str, np.ndarray],
    n_events: int,
    cal_users: np.ndarray,
    novel_scores: Callable[[UserHistory], np.ndarray],
    seed: int,
) -> None:
    """Learn a model's re-interaction model and unseen-item rank -> hit-rate curve into its ``arrays``.

    ``arrays`` hold the training histories (``user_ptr``, ``hist_items``, ``hist_ts``, ``hist_events``);
    ``item_conv``, ``repeat_w`` and ``novel_curve`` are added. ``novel_scores`` scores a history with
    the model refitted without ``cal_users``, whose newest 10% of events are the truth the curve counts.
    """
    ptr = np.asarray(arrays["user_ptr"])
    items, ts = np.asarray(arrays["hist_items"]), np.asarray(arrays["hist_ts"])
    events = np.asarray(arrays["hist_events"])
    n_events = max(n_events, int(events.max(initial=0)) + 1)
    rows_user = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    conv = item_event_conversion(rows_user, items, events, len(arrays["item_ids"]), n_events)
    arrays["item_conv"] = conv
    arrays["repeat_w"] = fit_repeat_model(ptr, items, ts, events, conv, seed=seed)
    hits = np.zeros(CURVE_LENGTH, np.float64)
    cuts = simulated_cuts(ptr, len(ptr) - 1, 0.1, len(cal_users), seed, users=cal_users)
    for u, lo, cut in cuts:
        history = UserHistory(items[lo:cut], ts[lo:cut])
        s = novel_scores(history)
        s[history.items] = -np.inf
        m = min(CURVE_LENGTH, int(np.isfinite(s).sum()))
        if m == 0:
            continue
        top = np.argpartition(-s, m - 1)[:m]
        top = top[np.argsort(-s[top], kind="stable")]
        truth = np.setdiff1d(items[cut : int(ptr[u + 1])], history.items)
        hits[:m] += np.isin(top, truth)
    arrays["novel_curve"] = hit_rate_curve(hits, max(len(cuts), 1), CURVE_LENGTH)
