"""A user's score row with the head of its ranking precomputed, so repeated requests skip the top-k."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .scoring import Ranked, top_k

HEAD_ITEMS = 1000


@dataclass(frozen=True)
class ScoredItems:
    """Scores (float64) and, optionally, the ``head`` of ``top_k``'s order: best first, ties by lower index."""

    scores: np.ndarray
    head: np.ndarray
    complete: bool  # the head holds every finite score

    @classmethod
    def of(cls, scores: np.ndarray, head_items: int = 0) -> ScoredItems:
        """``scores`` as float64, with the best ``head_items`` ranked now (0: rank on demand)."""
        s = np.asarray(scores, dtype=np.float64)
        if head_items <= 0:
            return cls(s, np.zeros(0, np.int64), False)
        best = top_k(s, head_items)
        return cls(s, best.indices, len(best) < head_items)

    @property
    def nbytes(self) -> int:
        return self.scores.nbytes + self.head.nbytes

    def top_k(self, k: int, allowed: np.ndarray | None = None) -> Ranked:
        """Equal to ``top_k(self.scores, k, allowed)``, from the head when it holds enough allowed items."""
        head = self.head if allowed is None else self.head[np.asarray(allowed, bool)[self.head]]
        if len(head) >= k or self.complete:
            chosen = head[:k]
            return Ranked(chosen, self.scores[chosen])
        return top_k(self.scores, k, allowed)
