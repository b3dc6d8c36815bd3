"""The training job body, run in a child process: read snapshots, train, save the artifact."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..data.csv_import import read_snapshot


def train_from_snapshots(
    recipe_arn: str,
    interactions: str,
    items: str | None,
    users: str | None,
    params: dict[str, str],
    event_type: str | None,
    perform_hpo: bool,
    hpo_config: dict[str, Any] | None,
    out_dir: str,
    previous_dir: str | None,
    progress: Callable[[float], None],
) -> dict[str, Any]:
    """Train one solution version from dataset snapshot directories; returns metrics and tuned params."""
    from ..recipes.pipeline import train_solution_version

    result = train_solution_version(
        recipe_arn,
        read_snapshot(Path(interactions)),
        read_snapshot(Path(items)) if items else None,
        read_snapshot(Path(users)) if users else None,
        params,
        event_type,
        perform_hpo,
        hpo_config,
        Path(out_dir),
        previous_dir=Path(previous_dir) if previous_dir else None,
        progress=progress,
    )
    return {
        "metrics": dict(result.metrics),
        "tuned_params": dict(result.tuned_params),
        "training_seconds": float(result.training_seconds),
    }
