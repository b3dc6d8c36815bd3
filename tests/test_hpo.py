"""HPO really searches and changes hyperparameters."""

from pathlib import Path

from openpersonalize.data.movielens import prepare_interactions, prepare_items
from openpersonalize.jobs.training import train_solution_version


def test_hpo_changes_hyperparameters(tmp_path: Path, movielens_dir: Path) -> None:
    interactions = prepare_interactions(movielens_dir / "ratings.csv")
    items = prepare_items(movielens_dir / "movies.csv")
    hpo = {
        "hpoObjective": {"type": "Maximize", "metricName": "normalized_discounted_cumulative_gain_at_25"},
        "hpoResourceConfig": {"maxNumberOfTrainingJobs": "4", "maxParallelTrainingJobs": "1"},
        "algorithmHyperParameterRanges": {
            "continuousHyperParameterRanges": [
                {"name": "recency_half_life", "minValue": 1, "maxValue": 8},
                {"name": "recency_floor", "minValue": 0.0, "maxValue": 0.1},
            ],
            "categoricalHyperParameterRanges": [{"name": "recency_mask", "values": ["true"]}],
        },
    }
    # deliberately poor start (no recency): tuning must move away from it
    params = {"ease_max_items": "1500", "recency_half_life": "400", "recency_floor": "1.0"}
    res = train_solution_version(
        "arn:aws:personalize:::recipe/aws-user-personalization",
        interactions,
        items,
        None,
        params,
        None,
        True,
        hpo,
        tmp_path / "m",
    )
    assert len(res.trials) == 4
    assert res.tuned_params["recency_half_life"] != "400"
    assert float(res.tuned_params["recency_half_life"]) <= 8
