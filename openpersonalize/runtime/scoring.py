"""The runtime hot path's arithmetic: masking, top-k, list ranking and promotion mixing.

Every recipe gets these for free, and batch jobs call the same functions, so
online and batch results are identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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

    Each row is first pruned to the items at least as good as its k-th best chunk maximum
    (a lower bound of its k-th best score), so only a few hundred candidates are ranked.
    """
    block = np.asarray(scores)
    n_rows, n_items = block.shape
    out: list[Ranked] = []
    chunk = max(1, n_items // 256)
    whole = (n_items // chunk) * chunk
    for r in range(n_rows):
        row = block[r]
        mask = None if allowed is None else allowed[r]
        if mask is not None:
            row = np.where(mask, row, -np.inf)
        maxima = row[:whole].reshape(-1, chunk).max(axis=1)
        if whole < n_items:
            maxima = np.append(maxima, row[whole:].max())
        finite = maxima[np.isfinite(maxima)]
        if k <= 0 or finite.size < k:
            out.append(top_k(row, k))
            continue
        bound = np.partition(finite, finite.size - k)[finite.size - k]
        cand = np.flatnonzero(row >= bound)
        ranked = top_k(row[cand], k)
        out.append(Ranked(cand[ranked.indices], ranked.scores))
    return out


def rank_list(scores: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Order positions of ``indices`` (item index or -1 for unknown) best first; unknown items last, in input order."""
    idx = np.asarray(indices, dtype=np.int64)
    known = idx >= 0
    key = np.full(len(idx), -np.inf)
    key[known] = np.asarray(scores, dtype=np.float64)[idx[known]]
    key = np.where(np.isfinite(key), key, np.finfo(np.float64).min)
    return np.lexsort((np.arange(len(idx)), -key, ~known))


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
