"""A synthetic e-commerce data set (View and Purchase events) for the ECOMMERCE domain recipes.

Items come in categories and in bundles of two (an item and its complement: a camera and its
lens). Each shopper prefers one category; a visit views a few items of it (popular ones more
often), buys some of the viewed items, and, having bought an item, often buys its complement in
the same visit. So "frequently bought together" has a right answer (the complement), "also viewed"
one of the same category, and the best sellers differ from the most viewed.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

VIEW, PURCHASE = "View", "Purchase"
START = 1_700_000_000


def complement(item: int) -> int:
    """The item bought with ``item`` (bundles are the pairs 2k, 2k+1)."""
    return item ^ 1


def shop_items(n_items: int = 400, n_categories: int = 8) -> pa.Table:
    """ITEM_ID, PRICE, CATEGORY_L1 (the ECOMMERCE domain's required item fields); bundles share a category."""
    ids = np.arange(n_items)
    return pa.table(
        {
            "ITEM_ID": [f"p{i}" for i in ids],
            "PRICE": [float(10 + (i * 7) % 90) for i in ids],
            "CATEGORY_L1": [f"c{(i // 2) % n_categories}" for i in ids],
        }
    )


def shop_interactions(
    n_users: int = 600, n_items: int = 400, n_categories: int = 8, visits: int = 6, seed: int = 0
) -> pa.Table:
    """USER_ID, ITEM_ID, EVENT_TYPE (View/Purchase), TIMESTAMP, oldest first."""
    rng = np.random.default_rng(seed)
    by_category = [np.arange(n_items)[(np.arange(n_items) // 2) % n_categories == c] for c in range(n_categories)]
    appeal = 1.0 / np.arange(1, n_items + 1) ** 0.8  # within a category, lower ids are viewed more
    users, items, events, stamps = [], [], [], []
    clock = START
    for visit in range(visits):
        for user in rng.permutation(n_users):
            category = by_category[(user + (visit % 3 == 2)) % n_categories]  # now and then another category
            weights = appeal[category] / appeal[category].sum()
            viewed = rng.choice(category, size=min(len(category), int(rng.integers(2, 7))), replace=False, p=weights)
            for item in viewed:
                clock += 1
                users.append(f"u{user}")
                items.append(int(item))
                events.append(VIEW)
                stamps.append(clock)
            # cheap items sell better: purchase odds fall with the item's position in its bundle list
            for item in viewed:
                if rng.random() < 0.45 - 0.15 * (item % 2):
                    for bought in (item, complement(item)) if rng.random() < 0.7 else (item,):
                        clock += 1
                        users.append(f"u{user}")
                        items.append(int(bought))
                        events.append(PURCHASE)
                        stamps.append(clock)
    return pa.table(
        {
            "USER_ID": users,
            "ITEM_ID": [f"p{i}" for i in items],
            "EVENT_TYPE": events,
            "TIMESTAMP": pa.array(stamps, pa.int64()),
        }
    )
