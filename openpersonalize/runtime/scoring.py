"""The runtime hot path's arithmetic: masking, top-k, list ranking and promotion mixing.

Every recipe gets these for free, and batch jobs call the same functions, so
online and batch results are identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..recipes.kernels import ranked_order

SCORE_DIGITS = 7


@dataclass(frozen=True)
class Ranked:
    """Item indices best first, with their scores."""

    indices: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)


def top_k(scores: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Ranked:
    """The ``k`` best allowed items (fewer only when fewer are allowed); ties by lower index."""
    s = np.asarray(scores, dtype=np.float64)
    candidates = np.flatnonzero(allowed & np.isfinite(s)) if allowed is not None else np.flatnonzero(np.isfinite(s))
    if candidates.size == 0 or k <= 0:
        return Ranked(np.zeros(0, np.int64), np.zeros(0))
    values = s[candidates]
    if candidates.size > k:
        part = _select(values, k)
        candidates, values = candidates[part], values[part]
    order = np.lexsort((candidates, -values))
    return Ranked(candidates[order], values[order])


def top_k_of(items: np.ndarray, scores: np.ndarray, k: int) -> Ranked:
    """``top_k`` over distinct candidate items that hold the best of a row: by score, ties by lower index."""
    s = np.ascontiguousarray(scores, dtype=np.float64)
    items = np.ascontiguousarray(items, np.int64)
    order = ranked_order(items, s)[: max(k, 0)]
    return Ranked(items[order], s[order])


def _select(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest values (``k`` < size); at the boundary, ties go to lower positions."""
    part = np.argpartition(-values, k - 1)[:k]
    kth = values[part].min()
    if np.count_nonzero(values == kth) > np.count_nonzero(values[part] == kth):
        above = np.flatnonzero(values > kth)
        part = np.concatenate([above, np.flatnonzero(values == kth)[: k - above.size]])
    return part


def top_k_rows(scores: np.ndarray, k: int, allowed: list[np.ndarray | None] | None = None) -> list[Ranked]:
    """``top_k`` for every row of a (users x items) block, identical to calling it row by row.

    The whole block is pruned at once: each row keeps the items at least as good as its k-th best
    chunk maximum (a lower bound of its k-th best score), and the few hundred candidates per row
    are ordered together (score descending, then item index), so no per-row pass touches the
    full catalogue. A row with fewer than ``k`` finite chunk maxima goes through ``top_k``.
    """
    block = np.asarray(scores)
    n_rows, n_items = block.shape
    if allowed is not None and any(mask is not None for mask in allowed):
        keep = np.stack([np.ones(n_items, bool) if mask is None else np.asarray(mask, bool) for mask in allowed])
        block = np.where(keep, block, -np.inf).astype(block.dtype, copy=False)
    if n_rows == 0 or k <= 0 or n_items == 0:
        return [top_k(row, k) for row in block]
    chunk = max(1, n_items // 256)
    whole = (n_items // chunk) * chunk
    maxima = block[:, :whole].reshape(n_rows, -1, chunk).max(axis=2)
    if whole < n_items:
        maxima = np.concatenate([maxima, block[:, whole:].max(axis=1, keepdims=True)], axis=1)
    finite = np.isfinite(maxima)
    pruned = np.flatnonzero(finite.sum(axis=1) >= k)
    out: list[Ranked | None] = [None] * n_rows
    if pruned.size:
        sub = np.where(finite[pruned], maxima[pruned], -np.inf)
        bound = np.partition(sub, sub.shape[1] - k, axis=1)[:, sub.shape[1] - k]
        hits = (block if pruned.size == n_rows else block[pruned]) >= bound[:, None]
        rows, cols = np.divmod(np.flatnonzero(hits), n_items)  # flat: 2-D nonzero is several times slower
        values = block[pruned[rows], cols].astype(np.float64)
        ok = np.isfinite(values)  # +inf passes the bound but is never a candidate
        rows, cols, values = rows[ok], cols[ok], values[ok]
        order = np.lexsort((cols, -values, rows))
        starts = np.searchsorted(rows[order], np.arange(pruned.size))
        take = order[starts[:, None] + np.arange(k)]
        best_items, best_values = cols[take], values[take]
        for i, r in enumerate(pruned.tolist()):
            out[r] = Ranked(best_items[i], best_values[i])
    return [top_k(block[r], k) if ranked is None else ranked for r, ranked in enumerate(out)]


def rank_list(
    scores: np.ndarray, indices: np.ndarray, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``indices`` (item index or -1 for unknown) in answer order, and the scores of the leading ones.

    Known items with a finite score come first, best first (their scores are returned, float64); then
    known items without one; then unknown items; ties keep input order. Known items outside ``allowed``
    are dropped.
    """
    idx = np.asarray(indices, dtype=np.int64)
    known = idx >= 0
    at = np.where(known, idx, 0)
    values = np.asarray(scores)[at].astype(np.float64)
    scored = known & np.isfinite(values)
    # one stable sort: scored by descending score, then unscored known (+inf), then unknown (NaN sorts last)
    order = np.argsort(np.where(scored, -values, np.where(known, np.inf, np.nan)), kind="stable")
    if allowed is not None:
        order = order[~known[order] | np.asarray(allowed, bool)[at[order]]]
    return order, values[order[: np.count_nonzero(scored[order])]]


def public_scores(values: Sequence[float] | np.ndarray) -> list[float]:
    """Scores as every API returns them, rounded to ``SCORE_DIGITS`` digits (runtime and batch alike)."""
    return np.round(np.asarray(values, dtype=np.float64), SCORE_DIGITS).tolist()


def mix_promotions(main: Ranked, promoted: Ranked, k: int, percent: int) -> list[tuple[int, float, bool]]:
    """Blend promoted items into the main list, spread evenly, as (index, score, is_promoted).

    ``percent`` of the ``k`` slots (rounded down, at least one when any is asked for)
    go to promoted items; an item never appears twice.
    """
    wanted = min(len(promoted), max(1, k * percent // 100) if percent > 0 else 0)
    chosen = [
        (int(i), float(s), True) for i, s in zip(promoted.indices[:wanted], promoted.scores[:wanted], strict=True)
    ]
    taken = {i for i, _, _ in chosen}
    rest = [(int(i), float(s), False) for i, s in zip(main.indices, main.scores, strict=True) if int(i) not in taken]
    rest = rest[: max(0, k - len(chosen))]
    if not chosen:
        return rest
    out: list[tuple[int, float, bool]] = []
    step = max(1, (len(rest) + len(chosen)) // len(chosen))
    promo_iter = iter(chosen)
    rest_iter = iter(rest)
    for pos in range(len(rest) + len(chosen)):
        source = promo_iter if pos % step == step // 2 else rest_iter
        item = next(source, None) or next(promo_iter, None) or next(rest_iter, None)
        if item is not None:
            out.append(item)
    return out[:k]
