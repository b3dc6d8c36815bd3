"""Training time and peak memory at ML-25M scale on synthetic data.

Builds synthetic interactions (162k users, 62k items, 25M rows by default), indexes them
(TrainingData) and fits user-personalization (v2: EASE on the top ``ease_max_items`` items
+ iALS over the full catalogue) and aws-sims. Prints wall time and peak RSS per stage.
Targets on a 2-core / 24 GB machine: each recipe < 15 min and < 16 GB.

    python benchmarks/train_scale.py [--rows 25000000] [--users 162541] [--items 62423]
"""

from __future__ import annotations

import argparse
import gc
import resource
import time

import pyarrow as pa

from openpersonalize.data.synthetic import ML25M_ITEMS, ML25M_ROWS, ML25M_USERS, interaction_batches
from openpersonalize.data.training_data import TrainingData
from openpersonalize.recipes.sims import SimsRecipe
from openpersonalize.recipes.user_personalization import UserPersonalizationV2Recipe


def peak_gb() -> float:
    """Peak resident set size of this process so far (GB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=ML25M_ROWS)
    ap.add_argument("--users", type=int, default=None)
    ap.add_argument("--items", type=int, default=ML25M_ITEMS)
    ap.add_argument("--ease-max-items", default="10000")
    ap.add_argument("--skip", default="", help="comma list: up,sims")
    args = ap.parse_args()
    users = args.users or max(1000, int(ML25M_USERS * args.rows / ML25M_ROWS))
    skip = set(filter(None, args.skip.split(",")))
    t = time.perf_counter()
    table = pa.Table.from_batches(list(interaction_batches(users, args.items, args.rows, seed=0)))
    print(f"generate {table.num_rows} rows, {users} users, {args.items} items: {time.perf_counter() - t:.1f}s")
    t = time.perf_counter()
    data = TrainingData.from_tables(table)
    del table
    gc.collect()
    print(f"TrainingData.from_tables: {time.perf_counter() - t:.1f}s, peak RSS {peak_gb():.2f} GB")
    if "up" not in skip:
        t = time.perf_counter()
        model = UserPersonalizationV2Recipe().fit(data, {"ease_max_items": args.ease_max_items})
        print(
            f"aws-user-personalization-v2 (EASE top {args.ease_max_items} + iALS): "
            f"{time.perf_counter() - t:.1f}s, peak RSS {peak_gb():.2f} GB"
        )
        del model
        gc.collect()
    if "sims" not in skip:
        t = time.perf_counter()
        SimsRecipe().fit(data)
        print(f"aws-sims: {time.perf_counter() - t:.1f}s, peak RSS {peak_gb():.2f} GB")


if __name__ == "__main__":
    main()
