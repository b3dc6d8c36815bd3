"""A user's scores with the head of their ranking precomputed, so most requests skip the full row."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .scoring import Ranked, top_k, top_k_of

HEAD_ITEMS = 1000


class ScoredItems:
    """The head of a user's ranking (``top_k``'s order: best first, ties by lower index, with scores) and the
    full score row (float64), which a model that ranks its head directly computes only when a request needs it.
    """

    __slots__ = ("head", "head_scores", "complete", "n_items", "_row", "_compute")

    def __init__(
        self,
        head: np.ndarray,
        head_scores: np.ndarray,
        complete: bool,
        n_items: int,
        row: np.ndarray | None = None,
        compute: Callable[[], np.ndarray] | None = None,
    ) -> None:
        self.head, self.head_scores, self.complete, self.n_items = head, head_scores, complete, n_items
        self._row, self._compute = row, compute

    @classmethod
    def of(cls, scores: np.ndarray, head_items: int = 0) -> ScoredItems:
        """A full score row, with its best ``head_items`` ranked now (0: rank on demand)."""
        s = np.asarray(scores, dtype=np.float64)
        if head_items <= 0:
            return cls(np.zeros(0, np.int64), np.zeros(0), False, len(s), s)
        best = top_k(s, head_items)
        return cls(best.indices, best.scores, len(best) < head_items, len(s), s)

    @classmethod
    def from_head(
        cls, items: np.ndarray, scores: np.ndarray, n_items: int, compute: Callable[[], np.ndarray]
    ) -> ScoredItems:
        """A model's ranking head (items scoring strictly above every other item) and how to score the rest."""
        best = top_k_of(items, scores, len(items))
        return cls(best.indices, best.scores, False, n_items, None, compute)

    @property
    def scores(self) -> np.ndarray:
        """Every item's score (float64), computed on first use when only the head was given."""
        if self._row is None:
            assert self._compute is not None
            self._row = np.asarray(self._compute(), dtype=np.float64)
        return self._row

    @property
    def nbytes(self) -> int:
        """Memory held once the full row exists (counted from the start, so a cache stays within its bound)."""
        return self.n_items * 8 + self.head.nbytes + self.head_scores.nbytes

    def top_k(self, k: int, allowed: np.ndarray | None = None) -> Ranked:
        """Equal to ``top_k(self.scores, k, allowed)``, from the head when it holds enough allowed items."""
        head, values = self.head, self.head_scores
        if allowed is not None:
            keep = np.asarray(allowed, bool)[head]
            head, values = head[keep], values[keep]
        if len(head) >= k or self.complete:
            return Ranked(head[:k], values[:k])
        return top_k(self.scores, k, allowed)
