"""Dataset summaries for the console: rows, distinct users and items, event types, interactions per day."""

from __future__ import annotations

import pyarrow as pa

from openpersonalize.data.dataset_stats import DAY, DatasetSummary, summarise_table


def test_an_interactions_table_is_counted() -> None:
    day = 20_000 * DAY
    table = pa.table(
        {
            "USER_ID": ["u1", "u1", "u2", "u3"],
            "ITEM_ID": ["a", "b", "a", "a"],
            "EVENT_TYPE": ["watch", "click", "click", "click"],
            "TIMESTAMP": [day + 5, day + DAY - 1, day + DAY, day + 3 * DAY + 7],
        }
    )
    summary = summarise_table(table)
    assert (summary.rows, summary.distinct_users, summary.distinct_items) == (4, 3, 2)
    assert summary.event_types == [("click", 3), ("watch", 1)]
    assert summary.per_day == [(day, 2), (day + DAY, 1), (day + 3 * DAY, 1)]


def test_an_items_table_has_no_users_or_days() -> None:
    summary = summarise_table(pa.table({"ITEM_ID": ["a", "b"], "GENRE": ["x", "y"]}))
    assert (summary.rows, summary.distinct_users, summary.distinct_items) == (2, None, 2)
    assert summary.event_types == [] and summary.per_day == []


def test_an_empty_dataset() -> None:
    assert summarise_table(None) == DatasetSummary()
