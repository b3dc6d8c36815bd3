"""Offline metrics on hand-computed cases, and the evaluation split."""

import math

import pyarrow as pa
import pytest

from openpersonalize.evaluation.metrics import compute_metrics, ndcg, precision, reciprocal_rank
from openpersonalize.evaluation.split import split_interactions


def test_reciprocal_rank() -> None:
    assert reciprocal_rank(["a", "b", "c"], {"c"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(["a", "b"], {"z"}) == 0.0
    assert reciprocal_rank(["x"] * 25 + ["a"], {"a"}, 25) == 0.0


def test_ndcg_hand_computed() -> None:
    # hits at ranks 1 and 3, two relevant items: DCG = 1 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3)
    assert ndcg(["a", "x", "b"], {"a", "b"}, 5) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    # ideal DCG over min(|truth|, K): 3 relevant, K=1, hit at rank 1 -> 1
    assert ndcg(["a"], {"a", "b", "c"}, 1) == pytest.approx(1.0)
    assert ndcg(["x", "a"], {"a"}, 5) == pytest.approx(1 / math.log2(3))


def test_precision_and_aggregate() -> None:
    assert precision(["a", "b", "c", "d", "e"], {"a", "e", "z"}, 5) == pytest.approx(0.4)
    m = compute_metrics([["a", "b"], ["c"]], [{"b"}, {"z"}], n_catalogue_items=10)
    assert m["mean_reciprocal_rank_at_25"] == pytest.approx(0.25)
    assert m["precision_at_5"] == pytest.approx(0.1)
    assert m["coverage"] == pytest.approx(0.3)
    assert set(m) == {
        "coverage",
        "mean_reciprocal_rank_at_25",
        "normalized_discounted_cumulative_gain_at_5",
        "normalized_discounted_cumulative_gain_at_10",
        "normalized_discounted_cumulative_gain_at_25",
        "precision_at_5",
        "precision_at_10",
        "precision_at_25",
    }


def test_split_protocol() -> None:
    rows = []
    for u in range(100):
        for t in range(20):
            rows.append((str(u), f"i{t}", t))
            rows.append((str(u), f"i{t}", t))  # click + watch duplicate
    table = pa.table(
        {"USER_ID": [r[0] for r in rows], "ITEM_ID": [r[1] for r in rows], "TIMESTAMP": [r[2] for r in rows]}
    )
    s = split_interactions(table, seed=1, protocol="strict")
    assert len(s.test_users) == 10
    assert s.train.num_rows == 90 * 40
    assert s.exclude_seen
    for (items, _), truth in zip(s.inputs, s.truths, strict=True):
        assert truth == {"i18", "i19"}  # newest 10% of 20 distinct items, de-duplicated
        assert len(items) == 18
    assert split_interactions(table, seed=1, protocol="strict").test_users == s.test_users


def test_split_documented_protocol_cuts_interactions() -> None:
    """Personalize's protocol: newest 10% of interaction rows; truth may repeat input items."""
    rows = []
    for u in range(100):
        for t in range(20):
            rows.append((str(u), f"i{t}", t, "click"))
            if t % 2:
                rows.append((str(u), f"i{t}", t, "watch"))
    table = pa.table({k: [r[i] for r in rows] for i, k in enumerate(("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"))})
    s = split_interactions(table, seed=1)
    assert not s.exclude_seen
    assert len(s.test_users) == 10
    for (items, _), events, truth in zip(s.inputs, s.input_events, s.truths, strict=True):
        assert len(items) == 30 - 3  # 30 rows, newest 3 held out
        assert truth == {"i18", "i19"}  # i19 click+watch, i18 click (ties keep dataset order)
        assert events[-1] == "watch" and items[-1] == "i17"
    assert split_interactions(table, seed=1).test_users == s.test_users
