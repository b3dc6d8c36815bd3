"""Offline quality of every recipe vs Personalize's reported figures and baselines.

Preparation A: the POC's click + watch events, averaged over split seeds.
Preparation B: one event type (rating >= 4), newest 10% of *every* user held out.

Protocols (see ``openpersonalize/evaluation/split.py``):
- "Personalize protocol" (primary; what GetSolutionMetrics reports, like-for-like with the
  figures Personalize printed): 10% test users, the oldest 90% of each test user's
  *interactions* are the input and the items of the newest 10% the truth, including items
  already in the input (the watch copy of a clicked movie); recommendations are ranked as
  the model scores them, with no seen-item filter (Personalize applies none by default).
- "strict" (second table): each test user's events collapsed to distinct items before the
  cut, truth items already in the input dropped, seen items never recommended.
Domain recipes (recommenders' use cases): benchmarks/domain_quality.py, run at the end, each next to the
simplest baseline doing the same job (most popular, co-occurrence).
Baselines run in the same harness on the same splits: most-popular, implicit ALS (fold-in),
plain EASE. Under the Personalize protocol each baseline is also shown with seen items
excluded (what implicit's ``recommend`` and the usual EASE evaluation do), so it gets
whichever seen-item policy suits it best.

C. Next best action (aws-next-best-action) on the synthetic action data set
(``openpersonalize/data/synthetic_actions.py``), with and without the users' item views, against the
simplest baseline doing the same job, the most taken actions; both rank only the actions allowed at
the moment (expiry, repeat frequency), on the newest 10% of Taken events (``evaluation/actions.py``).

    python benchmarks/quality.py [--quick] [--seeds N] [--actions-only]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from domain_quality import report as domain_report

from openpersonalize.data.action_training import ActionTrainingData
from openpersonalize.data.actions import DAY_SECONDS, ActionCatalogue
from openpersonalize.data.movielens import prepare_interactions, prepare_items
from openpersonalize.data.synthetic_actions import action_data
from openpersonalize.data.training_data import TrainingData, UserHistory
from openpersonalize.evaluation.actions import evaluate_actions, most_popular
from openpersonalize.evaluation.evaluate import evaluate_model
from openpersonalize.evaluation.split import split_interactions
from openpersonalize.recipes.base import BaseModel, param
from openpersonalize.recipes.next_best_action import NextBestActionRecipe
from openpersonalize.recipes.popularity import PopularityCountRecipe, TrendingNowRecipe
from openpersonalize.recipes.ranking import PersonalizedRankingRecipe
from openpersonalize.recipes.sims import SimilarItemsRecipe, SimsRecipe
from openpersonalize.recipes.user_personalization import (
    UserPersonalizationRecipe,
    UserPersonalizationV2Recipe,
    als_fold_in,
    fit_als,
)

ML = Path("/work/shared/datasets/ml-latest-small")
KEYS = [
    ("coverage", "cov"),
    ("mean_reciprocal_rank_at_25", "MRR@25"),
    ("normalized_discounted_cumulative_gain_at_5", "NDCG@5"),
    ("normalized_discounted_cumulative_gain_at_10", "NDCG@10"),
    ("normalized_discounted_cumulative_gain_at_25", "NDCG@25"),
    ("precision_at_5", "P@5"),
    ("precision_at_10", "P@10"),
    ("precision_at_25", "P@25"),
]
PERSONALIZE = {
    "Personalize aws-user-personalization": [0.0791, 0.2690, 0.2279, 0.2687, 0.3321, 0.0750, 0.0571, 0.0379],
    "Personalize aws-sims": [0.1861, 0.1669, 0.1889, 0.2234, 0.2895, 0.0824, 0.0588, 0.0418],
    "Personalize aws-personalized-ranking": [0.0038, 0.0537, 0.0578, 0.0707, 0.0956, 0.0189, 0.0132, 0.0113],
}


class ALSBaseline(BaseModel):
    """implicit AlternatingLeastSquares, test users folded in (recalculated) from their history."""

    kind = "baseline-als"

    def __init__(self, data: TrainingData, factors: int = 64, seed: int = 0) -> None:
        super().__init__()
        self.set_common(data, "baseline:implicit-als", {})
        X = data.matrix.copy()
        X.data[:] = 1.0
        self.Y = fit_als(X, factors=factors, regularization=0.05, iterations=15, alpha=20.0, seed=seed)
        self.YtY = self.Y.T.astype(np.float64) @ self.Y.astype(np.float64)

    def score_user(self, history: UserHistory, context: dict | None = None) -> np.ndarray:
        if len(history) == 0:
            return self.popularity_scores()
        items = np.unique(history.items)
        x = als_fold_in(self.Y, self.YtY, items, np.full(len(items), 21.0), 0.05)
        return (self.Y @ x).astype(np.float32)


class EaseBaseline:
    """Plain EASE (no recency, transitions or repeat model; binary history) on the same item set."""

    def fit(self, data: TrainingData, params: dict | None = None, seed: int = 0) -> BaseModel:
        plain = {"recency_mask": "false", "ease_lambda": "300", "repeat_model": "false", "transition_weight": "0"}
        return UserPersonalizationRecipe().fit(data, plain)


def _recipes() -> list[tuple[str, object]]:
    return [
        ("aws-user-personalization", UserPersonalizationRecipe()),
        ("aws-user-personalization-v2", UserPersonalizationV2Recipe()),
        ("aws-personalized-ranking", PersonalizedRankingRecipe()),
        ("aws-sims", SimsRecipe()),
        ("aws-similar-items", SimilarItemsRecipe()),
        ("aws-popularity-count", PopularityCountRecipe()),
        ("aws-trending-now", TrendingNowRecipe()),
        ("baseline most-popular", PopularityCountRecipe()),
        ("baseline EASE", EaseBaseline()),
        ("baseline implicit ALS", None),
    ]


def run(
    interactions: pa.Table,
    items: pa.Table,
    seeds: list[int],
    all_users: bool,
    only: set | None = None,
    protocol: str = "personalize",
):
    """Return {name: (mean metric vector, mean fit seconds)}."""
    results: dict[str, list[tuple[list[float], float]]] = {}
    for seed in seeds:
        fraction = 1.0 if all_users else 0.1
        split = split_interactions(
            interactions, seed=seed, test_user_fraction=fraction, include_test_inputs=all_users, protocol=protocol
        )
        data = TrainingData.from_tables(split.train, items)
        for name, recipe in _recipes():
            if only and name not in only:
                continue
            t = time.perf_counter()
            model = ALSBaseline(data, seed=seed) if recipe is None else recipe.fit(data, {})
            fit_s = time.perf_counter() - t
            m = evaluate_model(model, split)
            results.setdefault(name, []).append(([m[k] for k, _ in KEYS], fit_s))
            if name.startswith("baseline") and not split.exclude_seen:
                m = evaluate_model(model, split, exclude_seen=True)
                results.setdefault(f"{name}, seen excluded", []).append(([m[k] for k, _ in KEYS], fit_s))
    return {n: (np.mean([r[0] for r in rs], axis=0), float(np.mean([r[1] for r in rs]))) for n, rs in results.items()}


def next_best_action_rows(seeds: list[int], item_views: bool) -> dict:
    """aws-next-best-action and the most-taken-actions baseline on the synthetic action data, seeds averaged."""
    recipe = NextBestActionRecipe()
    params = recipe.hyperparameters(None)
    period = param(params, "action_optimization_period") * DAY_SECONDS
    scorers = {
        "aws-next-best-action": lambda data, until: recipe.fit_actions(data, params, until).propensities,
        "baseline most-taken actions": most_popular,
    }
    results: dict[str, list] = {}
    for seed in seeds:
        synthetic = action_data(seed=seed)
        interactions = synthetic.interactions if item_views else None
        data = ActionTrainingData.from_tables(synthetic.actions, synthetic.action_interactions, interactions, 1000)
        catalogue = ActionCatalogue.of(synthetic.actions)
        for name, fit in scorers.items():
            t = time.perf_counter()
            metrics = evaluate_actions(data, catalogue, period, fit)
            results.setdefault(name, []).append(([metrics[k] for k, _ in KEYS], time.perf_counter() - t))
    return {n: (np.mean([r[0] for r in rs], axis=0), float(np.mean([r[1] for r in rs]))) for n, rs in results.items()}


def print_actions(seeds: list[int]) -> None:
    for item_views in (True, False):
        print_table(
            f"C. Next best action, synthetic actions {'with' if item_views else 'without'} item views, "
            f"newest 10% of Taken events, {len(seeds)} seed(s) averaged",
            next_best_action_rows(seeds, item_views),
        )


def print_table(title: str, rows: dict, reference: dict | None = None) -> None:
    print(f"\n## {title}\n")
    print("| model | " + " | ".join(h for _, h in KEYS) + " | fit s |")
    print("|---" * (len(KEYS) + 2) + "|")
    for name, values in (reference or {}).items():
        print(f"| {name} | " + " | ".join(f"{v:.4f}" for v in values) + " | - |")
    for name, (values, secs) in rows.items():
        print(f"| {name} | " + " | ".join(f"{v:.4f}" for v in values) + f" | {secs:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 seed instead of 3")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--data", type=Path, default=ML)
    ap.add_argument("--actions-only", action="store_true", help="only C, next best action")
    args = ap.parse_args()
    n_seeds = args.seeds or (1 if args.quick else 3)
    seeds = list(range(n_seeds))
    if args.actions_only:
        print_actions(seeds)
        return
    interactions = prepare_interactions(args.data / "ratings.csv")
    items = prepare_items(args.data / "movies.csv")
    t = time.perf_counter()
    print(
        "Personalize protocol: oldest 90% of each test user's interactions in, items of the newest 10%\n"
        "out (may repeat input items), no seen-item filter. Strict: distinct items, unseen truth only,\n"
        "seen items never recommended. Same splits and rules for our recipes and the baselines."
    )
    rows = run(interactions, items, seeds, all_users=False)
    print_table(
        f"A. POC preparation (click + watch), Personalize protocol, {n_seeds} seed(s) averaged",
        rows,
        PERSONALIZE,
    )
    core = {
        "aws-user-personalization",
        "aws-user-personalization-v2",
        "aws-sims",
        "baseline most-popular",
        "baseline EASE",
        "baseline implicit ALS",
    }
    rows_s = run(interactions, items, seeds, all_users=False, only=core, protocol="strict")
    print_table(f"A'. POC preparation, strict protocol (unseen items only), {n_seeds} seed(s) averaged", rows_s)
    ratings = pacsv.read_csv(
        args.data / "ratings.csv",
        convert_options=pacsv.ConvertOptions(
            column_types={"userId": pa.string(), "movieId": pa.string(), "timestamp": pa.int64()}
        ),
    )
    kept = ratings.filter(pc.greater_equal(ratings["rating"], 4.0))
    single = pa.table({"USER_ID": kept["userId"], "ITEM_ID": kept["movieId"], "TIMESTAMP": kept["timestamp"]})
    rows_b = run(single, items, [0], all_users=True, only=core)
    print_table(
        "B. rating >= 4 single event type, newest 10% of every user held out, Personalize protocol "
        "(no repeats in this data: 'seen excluded' = strict)",
        rows_b,
    )
    print_actions(seeds)
    domain_report(seeds, args.data)
    print(f"\ntotal benchmark time {time.perf_counter() - t:.0f}s")


if __name__ == "__main__":
    main()
