"""Training steps that partition over user blocks (``recipes/blocks.py``): the blocked sums equal the whole ones.

The EASE Gram matrix and the item transitions are summed over user blocks; whatever the block size
and whatever order the blocks ran in, the result must be the single-block one to the bit, and a
user-personalization model fitted in many blocks must equal the one fitted in one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from openpersonalize.data.movielens import prepare_interactions
from openpersonalize.data.training_data import TrainingData
from openpersonalize.recipes import blocks
from openpersonalize.recipes.blocks import BLOCK_ENV, gram, user_blocks
from openpersonalize.recipes.sequence import transition_matrix
from openpersonalize.recipes.user_personalization import UserPersonalizationRecipe


def _counts(seed: int, users: int = 400, items: int = 120) -> sp.csr_matrix:
    """A user x item matrix of small integer counts (some users empty)."""
    rng = np.random.default_rng(seed)
    X = sp.random(users, items, density=0.08, format="csr", random_state=rng, dtype=np.float32)
    X.data = rng.integers(1, 4, X.nnz).astype(np.float32)
    return X


class _Reversed:
    """A BlockMap that runs the blocks last first (as a cluster may finish them), yielding them in input order."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        done = [fn(item) for item in reversed(list(items))]
        self.calls += len(done)
        return iter(done[::-1])


def test_user_blocks_cover_every_user_once() -> None:
    indptr = np.array([0, 3, 3, 10, 11, 20, 20])
    assert user_blocks(indptr, 5) == [(0, 3), (3, 5), (5, 6)]  # cut at the first user starting past each 5
    assert user_blocks(indptr, 100) == [(0, 6)]
    assert user_blocks(np.array([0]), 5) == []


@pytest.mark.parametrize("size", ["7", "150", "1000000"])
def test_blocked_gram_equals_the_whole_product(size: str, monkeypatch: pytest.MonkeyPatch) -> None:
    X = _counts(1)
    monkeypatch.setenv(BLOCK_ENV, size)
    runner = _Reversed()
    with blocks.use(runner):
        G = gram(X)
    assert runner.calls == len(user_blocks(X.indptr)) and (runner.calls > 1 or size == "1000000")
    expected = (X.T @ X).toarray().astype(np.float32)
    assert G.dtype == np.float32 and np.array_equal(G, expected)


def test_blocked_transitions_equal_one_block(movielens_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = TrainingData.from_tables(prepare_interactions(movielens_dir / "ratings.csv"))
    args = (data.user_ptr, data.hist_items, data.n_items, 15)
    monkeypatch.setenv(BLOCK_ENV, str(data.n_interactions))
    whole = transition_matrix(*args)
    monkeypatch.setenv(BLOCK_ENV, "3000")
    runner = _Reversed()
    with blocks.use(runner):
        blocked = transition_matrix(*args)
    assert runner.calls > 10
    assert (blocked != whole).nnz == 0 and np.array_equal(blocked.indices, whole.indices)
    assert np.allclose(np.asarray(whole.sum(axis=1)).ravel()[np.diff(whole.indptr) > 0], 1.0, atol=1e-5)


def test_model_fitted_in_blocks_is_the_single_block_model(movielens_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = TrainingData.from_tables(prepare_interactions(movielens_dir / "ratings.csv"))
    params = {"ease_max_items": "800"}
    monkeypatch.setenv(BLOCK_ENV, str(data.n_interactions))
    whole = UserPersonalizationRecipe().fit(data, params, seed=3)
    monkeypatch.setenv(BLOCK_ENV, "5000")
    runner = _Reversed()
    with blocks.use(runner):
        blocked = UserPersonalizationRecipe().fit(data, params, seed=3)
    assert runner.calls > 20
    assert np.array_equal(blocked.arrays["ease_B"], whole.arrays["ease_B"])
    assert (blocked.sparse["transitions"] != whole.sparse["transitions"]).nnz == 0
    history = data.history(0)
    assert np.array_equal(blocked.score_user(history), whole.score_user(history))
