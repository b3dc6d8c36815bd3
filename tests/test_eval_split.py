"""The evaluation split reads int codes, not a Python string per row, and still cuts exactly as documented.

The reference below is the split as ``evaluation/split.py`` describes it, over numpy arrays of Python
strings (``np.unique``'s sorted users, a seeded choice, ties in dataset order): the lean split must give
the same training rows, test users, inputs, events and truths on tables with several chunks, integer
ids, null event types, equal timestamps, and without TIMESTAMP or EVENT_TYPE.
"""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from openpersonalize.data.synthetic import interaction_batches
from openpersonalize.data.training_data import TrainingData
from openpersonalize.evaluation.evaluate import evaluate_model
from openpersonalize.evaluation.split import EvalSplit, split_interactions
from openpersonalize.jobs.training import train_solution_version
from openpersonalize.recipes.artifacts import load_model
from openpersonalize.recipes.user_personalization import UserPersonalizationRecipe

UP_ARN = "arn:aws:personalize:::recipe/aws-user-personalization"


def _reference(table: pa.Table, seed: int, fraction: float, include_inputs: bool, strict: bool) -> tuple:
    users = pc.cast(table["USER_ID"], pa.string()).to_numpy(zero_copy_only=False)
    items = pc.cast(table["ITEM_ID"], pa.string()).to_numpy(zero_copy_only=False)
    n = len(users)
    ts = table["TIMESTAMP"].to_numpy() if "TIMESTAMP" in table.column_names else np.arange(n)
    events = (
        pc.cast(table["EVENT_TYPE"], pa.string()).fill_null("").to_numpy(zero_copy_only=False)
        if "EVENT_TYPE" in table.column_names
        else np.full(n, "", dtype=object)
    )
    uniq, codes = np.unique(users, return_inverse=True)
    counts = np.bincount(codes, minlength=len(uniq))
    eligible = np.flatnonzero(counts >= 2)
    n_test = int(round(len(eligible) * fraction)) if fraction < 1 else len(eligible)
    chosen = np.random.default_rng(seed).choice(eligible, size=n_test, replace=False) if fraction < 1 else eligible
    keep = ~np.isin(codes, chosen)
    cases = []
    for u in np.sort(chosen):
        rows = sorted(np.flatnonzero(codes == u), key=lambda r: (ts[r], r))
        if strict:
            seen: set[str] = set()
            rows = [r for r in rows if not (items[r] in seen or seen.add(items[r]))]
        cut = len(rows) - max(1, int(round(len(rows) * 0.1)))
        inp, held = rows[:cut], rows[cut:]
        if include_inputs:
            keep[inp] = True
        truth = {items[r] for r in held} - ({items[r] for r in inp} if strict else set())
        if truth:
            cases.append((uniq[u], [items[r] for r in inp], [int(ts[r]) for r in inp], [events[r] for r in inp], truth))
    return keep, cases


def _table(rng: np.random.Generator, timestamps: bool, event_types: bool, int_ids: bool) -> pa.Table:
    chunks = []
    for _ in range(3):
        n = 2000
        users, items = rng.integers(0, 150, n), rng.integers(0, 40, n)
        columns = {
            "USER_ID": pa.array(users) if int_ids else pa.array([f"u{u}" for u in users]),
            "ITEM_ID": pa.array([f"i{i}" for i in items]),
        }
        if timestamps:
            columns["TIMESTAMP"] = pa.array(rng.integers(0, 12, n), pa.int64())  # many ties
        if event_types:
            columns["EVENT_TYPE"] = pa.array([None if e == 2 else ("click", "watch")[e] for e in rng.integers(0, 3, n)])
        chunks.append(pa.table(columns))
    return pa.concat_tables(chunks)


@pytest.mark.parametrize("case", range(8))
def test_split_matches_the_documented_reference(case: int) -> None:
    rng = np.random.default_rng(case)
    table = _table(rng, timestamps=case % 3 != 2, event_types=case % 4 != 3, int_ids=case % 2 == 1)
    assert table["USER_ID"].num_chunks == 3
    strict, include_inputs = case in (1, 4, 6), case in (2, 5)
    fraction = 1.0 if include_inputs else 0.1
    split = split_interactions(
        table,
        seed=case,
        test_user_fraction=fraction,
        include_test_inputs=include_inputs,
        protocol="strict" if strict else "personalize",
    )
    keep, cases = _reference(table, case, fraction, include_inputs, strict)
    assert split.train.equals(table.filter(pa.array(keep)))
    assert split.exclude_seen == strict
    got = [
        (user, items.tolist(), ts.tolist(), events.tolist(), truth)
        for user, (items, ts), events, truth in zip(
            split.test_users, split.inputs, split.input_events, split.truths, strict=True
        )
    ]
    assert got == cases
    assert len(cases) >= 10


def test_training_metrics_and_model_follow_the_reference_split(tmp_path: Path) -> None:
    """The job's offline metrics are the reference split's (fit on its training rows, scored on its test
    users) and its model is the fit on every interaction: freeing the split before the final fit and reading
    its training rows through a mask change no figure and no array."""
    table = pa.Table.from_batches(list(interaction_batches(n_users=400, n_items=150, n_rows=12_000, seed=3)))
    result = train_solution_version(UP_ARN, table, None, None, {}, None, False, None, tmp_path / "model")

    keep, cases = _reference(table, 0, 0.1, False, False)
    users = [c[0] for c in cases]
    inputs = [(np.array(c[1], dtype=object), np.array(c[2], np.int64)) for c in cases]
    events = [np.array(c[3], dtype=object) for c in cases]
    reference = EvalSplit(table, keep, users, inputs, [c[4] for c in cases], input_events=events)
    recipe = UserPersonalizationRecipe()
    eval_model = recipe.fit(TrainingData.from_tables(table.filter(pa.array(keep))), {}, seed=0)
    assert result.metrics == evaluate_model(eval_model, reference)
    assert result.metrics["precision_at_25"] > 0

    model = load_model(tmp_path / "model", mmap=False)
    expected = recipe.fit(TrainingData.from_tables(table), {}, seed=0)
    assert sorted(model.arrays) == sorted(expected.arrays) and sorted(model.sparse) == sorted(expected.sparse)
    for name, array in expected.arrays.items():
        np.testing.assert_array_equal(model.arrays[name], array, err_msg=name)
    for name, matrix in expected.sparse.items():
        assert (model.sparse[name] != matrix).nnz == 0, name
